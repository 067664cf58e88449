"""Prometheus metrics: counters move as requests and events flow, read back from the exposition text."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from projector.dead_letters import DeadLetter, DeadLetterStore
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.observability.metrics import (
    MeasuredApplier,
    MeasuredDeadLetters,
    MeasuredPublisher,
    ProgressSampler,
    new_projector_metrics,
    start_metrics_listener,
)
from projector.observability.multiprocess import MULTIPROC_VARIABLE, prepare_worker_metrics
from projector.store import Cursor, EventStore, create_engine_for
from projector.writer import RedisProjector
from query_api.operations.metrics import new_api_metrics, quantile
from shared.events import Event, StoredEvent
from shared.logs import FIELDS
from shared.readmodel import keys
from tests.fixtures.redis_server import free_port
from tests.unit.api_events import Api, History, account_token, new_id


def samples(text: str | bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str | bytes, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[EventStore]:
    engine = create_engine_for(sqlite_url)
    migrate(engine)
    yield EventStore(engine)
    engine.dispose()


def workspace_history(history: History, apps: int = 2) -> list[Event]:
    ws, account = new_id(), new_id()
    events = [
        history.workspace_created(ws, "Alpha"),
        history.account_created(account, "Ada", "ada@example.com"),
        history.member_joined(ws, account, "owner"),
    ]
    events += [history.app_created(new_id(), ws, account) for _ in range(apps)]
    return events


# --- the API ---------------------------------------------------------------------------------


class TestApiMetrics:
    def test_requests_count_by_route_template_method_and_status(self, fake_redis: Any) -> None:
        api = Api(fake_redis)
        ws = api.workspace("Alpha")
        owner, token = api.member(ws, "Ada", "owner")
        app = api.app(ws, owner)
        for _ in range(3):
            assert api.get(f"/apps/{app}", token).status_code == 200
        assert api.get(f"/apps/{new_id()}", token).status_code == 404
        assert api.get("/no/such/route").status_code == 404

        exposition = api.client.simulate_get("/metrics")
        assert exposition.status_code == 200
        assert exposition.headers["content-type"].startswith("text/plain")
        text = exposition.text
        count = "readmodel_http_request_duration_seconds_count"
        route = "/openapi/v1/apps/{app_id}"
        assert value(text, count, route=route, method="GET", status="200") == 3
        assert value(text, count, route=route, method="GET", status="404") == 1
        assert value(text, count, route="unmatched", method="GET", status="404") == 1
        # The raw path (with its id) never becomes a label value.
        assert app not in text
        assert "/no/such/route" not in text
        bucket = "readmodel_http_request_duration_seconds_bucket"
        assert value(text, bucket, route=route, method="GET", status="200", le="+Inf") == 3

    def test_auth_failures_count_by_reason(self, fake_redis: Any) -> None:
        api = Api(fake_redis)
        ws = api.workspace("Alpha")
        _, stranger = api.member(api.workspace("Beta"), "Eve")
        api.get("/account")
        api.get("/account")
        api.get("/account", account_token())
        api.get("/account", "nope_123")
        api.get("/apps", stranger, workspace_id=ws)
        text = api.client.simulate_get("/metrics").text
        failures = "readmodel_auth_failures_total"
        assert value(text, failures, reason="missing_token") == 2
        assert value(text, failures, reason="unknown_or_revoked") == 1
        assert value(text, failures, reason="unknown_prefix") == 1
        assert value(text, failures, reason="not_a_member") == 1

    def test_each_app_has_its_own_registry(self, fake_redis: Any) -> None:
        first, second = Api(fake_redis), Api(fake_redis)
        first.get("/_health")
        count = "readmodel_http_request_duration_seconds_count"
        labels = {"route": "/openapi/v1/_health", "method": "GET", "status": "200"}
        assert value(first.client.simulate_get("/metrics").text, count, **labels) == 1
        assert value(second.client.simulate_get("/metrics").text, count, **labels) == 0

    def test_several_worker_processes_add_up(self, tmp_path: Path) -> None:
        # Each worker is its own process writing to the shared directory; a scrape merges them.
        env = {**os.environ, MULTIPROC_VARIABLE: str(tmp_path)}
        worker = textwrap.dedent(
            """
            import sys
            from query_api.operations.metrics import new_api_metrics
            metrics = new_api_metrics(sys.argv[1])
            metrics.observe_request("/openapi/v1/apps", "GET", "200", 0.002)
            if sys.argv[2] == "render":
                sys.stdout.write(metrics.render().decode())
            """
        )
        for _ in range(2):
            subprocess.run(
                [sys.executable, "-c", worker, str(tmp_path), "-"], env=env, check=True, timeout=60
            )
        rendered = subprocess.run(
            [sys.executable, "-c", worker, str(tmp_path), "render"],
            env=env,
            check=True,
            timeout=60,
            capture_output=True,
            text=True,
        ).stdout
        count = "readmodel_http_request_duration_seconds_count"
        assert value(rendered, count, route="/openapi/v1/apps", method="GET", status="200") == 3

    def test_request_stats_and_p99(self) -> None:
        metrics = new_api_metrics()
        for _ in range(98):
            metrics.observe_request("/r", "GET", "200", 0.0004)
        metrics.observe_request("/r", "GET", "500", 0.2)
        metrics.observe_request("/r", "GET", "200", 0.2)
        (stats,) = metrics.request_stats()
        assert (stats.route, stats.count, stats.errors) == ("/r", 100, 1)
        assert stats.p99 is not None
        assert 0.1 < stats.p99 <= 0.25  # the slowest 2 % sit in the (0.1, 0.25] bucket


def test_quantile_interpolates_within_a_bucket() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets, 100) == pytest.approx(0.1)
    assert quantile(0.75, buckets, 100) == pytest.approx(0.15)
    assert quantile(0.99, {}, 0) is None


def test_prepare_worker_metrics_only_for_several_workers() -> None:
    env: dict[str, str] = {}
    assert prepare_worker_metrics(env, 1) is None
    assert env == {}
    directory = prepare_worker_metrics(env, 3)
    assert directory is not None
    try:
        assert env[MULTIPROC_VARIABLE] == directory.name
        assert Path(directory.name).is_dir()
        assert prepare_worker_metrics(env, 3) is None  # an operator's directory is kept
    finally:
        directory.cleanup()
        # This process's environment had no directory: its metrics stay in memory.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()


# --- the relay, the projector, the sampler ---------------------------------------------------


class CollectingPublisher:
    """A publisher whose broker is a list."""

    def __init__(self) -> None:
        self.published: list[StoredEvent] = []

    def publish(self, batch: Sequence[tuple[Cursor, StoredEvent]]) -> None:
        self.published.extend(stored for _, stored in batch)

    def reset(self) -> None:
        pass


class TestProjectorMetrics:
    def test_relayed_applied_duplicated_and_dead_lettered_by_type(
        self, store: EventStore, fake_redis: Any
    ) -> None:
        metrics = new_projector_metrics()
        history = History()
        store.append(workspace_history(history, apps=3))
        batch = store.read_settled(store.load_cursor("relay"), 100)
        MeasuredPublisher(CollectingPublisher(), metrics).publish(batch)
        events = [stored for _, stored in batch]
        ensure_live_generation(fake_redis)
        applier = MeasuredApplier(RedisProjector(fake_redis, store), metrics)
        applier.apply(events)
        applier.apply(events[-2:])  # redelivered: duplicates
        letters = DeadLetterStore(store.engine)
        sink = MeasuredDeadLetters(letters, metrics)
        sink.record([DeadLetter.for_event(events[0], "broken"), DeadLetter(reason="not JSON", body=b"{")])

        text = metrics_text(metrics)
        assert value(text, "readmodel_events_relayed_total", type="app.created") == 3
        assert value(text, "readmodel_events_relayed_total", type="workspace.created") == 1
        assert value(text, "readmodel_events_applied_total", type="app.created") == 3
        assert value(text, "readmodel_events_applied_total", type="workspace.member_joined") == 1
        assert value(text, "readmodel_events_duplicated_total", type="app.created") == 2
        assert value(text, "readmodel_events_dead_lettered_total", type="workspace.created") == 1
        assert value(text, "readmodel_events_dead_lettered_total", type="unknown") == 1
        assert value(text, "readmodel_apply_batch_seconds_count") == 2
        assert letters.count() == 2  # the decorator passed them on

    def test_gap_filled_events_are_counted(self, store: EventStore, fake_redis: Any) -> None:
        metrics = new_projector_metrics()
        history = History()
        events = workspace_history(history, apps=1)
        app = events[-1].stream.split(":", 1)[1]
        store.append([*events, history.app_updated(app, events[0].workspace_id or "", name="Renamed")])
        stored = store.read_after(0, 100)
        ensure_live_generation(fake_redis)
        applier = MeasuredApplier(RedisProjector(fake_redis, store), metrics)
        applier.apply(stored[:-2])
        # The app's second version arrives first: its first is read from the store.
        applier.apply(stored[-1:])
        text = metrics_text(metrics)
        assert value(text, "readmodel_events_gap_filled_total") == 1
        assert value(text, "readmodel_events_applied_total", type="app.updated") == 1

    def test_the_sampler_sets_positions_lag_and_dead_letters(
        self, store: EventStore, fake_redis: Any
    ) -> None:
        metrics = new_projector_metrics()
        history = History()
        store.append(workspace_history(history))
        ensure_live_generation(fake_redis)
        RedisProjector(fake_redis, store).apply(store.read_after(0, 100))
        store.save_cursor("relay", Cursor(None, 2))
        store.append(workspace_history(history))  # five more, not applied
        letters = DeadLetterStore(store.engine)
        letters.record([DeadLetter(reason="not JSON", body=b"x")])
        sampler = ProgressSampler(store, metrics, redis=fake_redis, dead_letters=letters, stall_seconds=60)
        sample = sampler.sample()

        text = metrics_text(metrics)
        assert value(text, "readmodel_store_head_position") == 10
        assert value(text, "readmodel_projector_watermark") == 5
        assert value(text, "readmodel_projector_lag_events") == 5
        assert value(text, "readmodel_projector_lag_seconds") >= 0
        assert value(text, "readmodel_relay_position") == 2
        assert value(text, "readmodel_relay_lag_events") == 8
        assert value(text, "readmodel_dead_letters") == 1
        assert value(text, "readmodel_redis_roundtrip_seconds_count", process="projector") == 1
        assert value(text, "readmodel_projector_stalled", reason="watermark_stuck") == 0
        assert sample.figures["lag_events"] == 5

    def test_the_sampler_reports_a_stall_and_a_replay(self, store: EventStore, fake_redis: Any) -> None:
        metrics = new_projector_metrics()
        now = [0.0]
        store.append(workspace_history(History()))
        ensure_live_generation(fake_redis)
        fake_redis.set(
            keys.REPLAY_POINTER, b'{"generation": "gnext", "phase": "bulk", "events": 4, "position": 4}'
        )
        sampler = ProgressSampler(store, metrics, redis=fake_redis, stall_seconds=5, monotonic=lambda: now[0])
        assert not sampler.sample().stalled
        now[0] = 6.0
        assert sampler.sample().stalled
        text = metrics_text(metrics)
        assert value(text, "readmodel_projector_stalled", reason="watermark_stuck") == 1
        assert value(text, "readmodel_replay_in_progress") == 1
        assert value(text, "readmodel_replay_events") == 4
        assert value(text, "readmodel_replay_progress_ratio") == pytest.approx(0.8)

    def test_the_sampler_calls_a_first_build_a_stall_only_when_it_stops_moving(
        self, store: EventStore, fake_redis: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        metrics = new_projector_metrics()
        now = [0.0]
        store.append(workspace_history(History()))
        sampler = ProgressSampler(store, metrics, redis=fake_redis, stall_seconds=5, monotonic=lambda: now[0])
        with caplog.at_level(logging.WARNING):
            for built in (1, 3, 5):  # a rebuild writing the first generation, moving
                fake_redis.set(keys.REPLAY_POINTER, orjson.dumps({"generation": "g1", "events": built}))
                assert not sampler.sample().stalled
                now[0] += 4
            assert "projector stalled" not in caplog.text
            assert (
                value(metrics_text(metrics), "readmodel_projector_stalled", reason="no_live_generation") == 0
            )
            now[0] += 1  # five seconds since it last moved
            assert sampler.sample().stalled
        (stall,) = [r for r in caplog.records if r.getMessage() == "projector stalled"]
        assert "no rebuild made progress for 5s" in getattr(stall, FIELDS)["reason"]
        assert value(metrics_text(metrics), "readmodel_projector_stalled", reason="no_live_generation") == 1

    def test_the_sampler_judges_a_burst_after_idle_by_when_work_first_waited(
        self, store: EventStore, fake_redis: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        metrics = new_projector_metrics()
        now = [0.0]
        history = History()
        store.append(workspace_history(history))
        ensure_live_generation(fake_redis)
        RedisProjector(fake_redis, store).apply(store.read_after(0, 100))
        sampler = ProgressSampler(store, metrics, redis=fake_redis, stall_seconds=5, monotonic=lambda: now[0])
        assert not sampler.sample().stalled
        now[0] = 3600.0
        assert not sampler.sample().stalled  # idle all along
        store.append(workspace_history(history))  # a burst after the idle hour
        now[0] = 3601.0
        assert not sampler.sample().stalled
        assert value(metrics_text(metrics), "readmodel_projector_stalled", reason="watermark_stuck") == 0
        assert "projector stalled" not in caplog.text
        now[0] = 3606.0  # five seconds of waiting with no progress: now it is a stall
        with caplog.at_level(logging.WARNING):
            assert sampler.sample().stalled
        assert "projector stalled" in caplog.text

    def test_the_relay_sampler_needs_no_redis(self, store: EventStore) -> None:
        metrics = new_projector_metrics()
        store.append(workspace_history(History()))
        ProgressSampler(store, metrics, process="relay").sample()
        text = metrics_text(metrics)
        assert value(text, "readmodel_store_head_position") == 5
        assert value(text, "readmodel_relay_lag_events") == 5

    def test_the_listener_serves_the_registry(self, store: EventStore) -> None:
        metrics = new_projector_metrics()
        store.append(workspace_history(History()))
        stop = threading.Event()
        listener = start_metrics_listener(metrics.registry, "127.0.0.1", free_port())
        assert listener is not None
        try:
            ProgressSampler(store, metrics, process="relay").sample()
            url = f"http://127.0.0.1:{listener.port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        finally:
            stop.set()
            listener.stop()
        assert value(text, "readmodel_store_head_position") == 5

    def test_a_busy_port_does_not_stop_the_process(self) -> None:
        metrics = new_projector_metrics()
        first = start_metrics_listener(metrics.registry, "127.0.0.1", free_port())
        assert first is not None
        try:
            assert start_metrics_listener(metrics.registry, "127.0.0.1", first.port) is None
        finally:
            first.stop()
        assert start_metrics_listener(metrics.registry, "127.0.0.1", 0) is None  # 0: switched off


def metrics_text(metrics: Any) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


# --- one /metrics for a process that runs both sides ----------------------------------------


def test_no_created_series_anywhere() -> None:
    projector = new_projector_metrics()
    projector.applied.labels("app.created").inc()
    api = new_api_metrics()
    api.observe_request("/openapi/v1/_health", "GET", "200", 0.001)
    assert "_created" not in metrics_text(projector)
    assert "_created" not in api.render().decode()


def test_the_api_serves_the_projector_of_its_process_once(store: EventStore) -> None:
    projector = new_projector_metrics()
    store.append(workspace_history(History()))
    ProgressSampler(store, projector, process="relay").sample()
    projector.redis_roundtrip.labels("up").observe(0.001)
    projector.set_stalled(["watermark_stuck"])
    api = new_api_metrics(also=[projector.registry])
    api.redis_roundtrip.labels("api").observe(0.002)

    text = api.render().decode()

    assert value(text, "readmodel_store_head_position") == 5
    assert value(text, "readmodel_redis_roundtrip_seconds_count", process="api") == 1
    assert value(text, "readmodel_redis_roundtrip_seconds_count", process="up") == 1
    # A series both have is the API's (its readiness verdict), and every family is named once.
    assert value(text, "readmodel_projector_stalled", reason="watermark_stuck") == 0
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))
