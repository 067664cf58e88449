"""Readiness, stall detection, the store probe and the admin-only status page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from falcon import testing

from projector.dead_letters import DeadLetter, DeadLetterStore
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.relay import RELAY_CURSOR
from projector.store import Cursor, EventStore, create_engine_for
from projector.writer import RedisProjector
from query_api.app import create_app
from query_api.operations import SqlStoreProbe
from query_api.operations import probe as probe_module
from query_api.operations.metrics import new_api_metrics
from query_api.operations.readiness import Readiness
from query_api.operations.status import OpsStatus
from shared.readmodel import keys
from shared.settings import Settings
from shared.stall import StallDetector
from tests.unit.api_events import Api, History, assert_headers, bearer
from tests.unit.test_api_http import closed_port
from tests.unit.test_metrics import value, workspace_history

ADMIN = "admin-secret-0123"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[EventStore]:
    engine = create_engine_for(sqlite_url)
    migrate(engine)
    yield EventStore(engine)
    engine.dispose()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(redis_client: Any, store: EventStore | None = None, clock: Clock | None = None, **env: str) -> Any:
    settings = Settings.from_env({"READMODEL_READY_MAX_LAG_SECONDS": "100000", **env})
    app = create_app(
        settings,
        redis=redis_client,
        head_probe=None if store is None else SqlStoreProbe(store.engine),
        monotonic=clock or Clock(),
    )
    return testing.TestClient(app)


def project_all(store: EventStore, redis_client: Any) -> None:
    ensure_live_generation(redis_client)
    RedisProjector(redis_client, store).apply(store.read_after(0, 10_000))


# --- readiness -------------------------------------------------------------------------------


class TestReadiness:
    def test_ready_with_redis_and_a_live_generation(self, fake_redis: Any) -> None:
        api = Api(fake_redis)
        api.workspace("Alpha")
        result = api.get("/_ready")
        assert result.status_code == 200
        assert_headers(result)
        assert result.json["ready"] is True
        assert result.json["watermark"] == 1
        assert result.json["store_head"] is None  # no store probe: lag is not judged

    def test_no_live_generation_is_not_ready(self, fake_redis: Any) -> None:
        result = client(fake_redis).simulate_get("/openapi/v1/_ready")
        assert result.status_code == 503
        assert_headers(result)
        body = result.json
        assert (body["code"], body["status"], body["ready"]) == ("not_ready", 503, False)
        assert body["reasons"] == ["no live generation (the read model is not built yet)"]
        assert body["hint"] == body["reasons"][0]
        text = client(fake_redis).simulate_get("/metrics").text
        assert value(text, "readmodel_ready") == 0

    def test_unreachable_redis_is_not_ready(self) -> None:
        down = redis.Redis(port=closed_port(), socket_connect_timeout=1)
        result = client(down).simulate_get("/openapi/v1/_ready")
        assert result.status_code == 503
        assert result.json["reasons"][0].startswith("redis unreachable")
        assert client(down).simulate_get("/openapi/v1/_health").status_code == 200

    def test_lag_over_the_limit_is_not_ready(self, fake_redis: Any, store: EventStore) -> None:
        store.append(workspace_history(History()))
        ensure_live_generation(fake_redis)
        settings = Settings.from_env({"READMODEL_READY_MAX_LAG_SECONDS": "30"})
        # The server's clock says the unapplied events were recorded a minute ago.
        app = create_app(
            settings, redis=fake_redis, head_probe=SqlStoreProbe(store.engine), clock=lambda: time.time() + 60
        )
        result = testing.TestClient(app).simulate_get("/openapi/v1/_ready")
        assert result.status_code == 503
        assert result.json["lag_events"] == 5
        assert any(reason.startswith("lag ") for reason in result.json["reasons"])


class TestStall:
    def test_a_blocked_projector_flips_readiness_within_stall_seconds(
        self, fake_redis: Any, store: EventStore
    ) -> None:
        clock = Clock()
        history = History()
        store.append(workspace_history(history))
        project_all(store, fake_redis)
        api = client(fake_redis, store, clock, READMODEL_STALL_SECONDS="5")
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200

        # The projector is blocked (nothing applies), events keep arriving in the store.
        store.append(workspace_history(history))
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200
        clock.now += 4
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200
        clock.now += 1
        result = api.simulate_get("/openapi/v1/_ready")
        assert result.status_code == 503
        assert result.json["stalled"] is True
        assert result.json["store_head"] == 10
        assert result.json["watermark"] == 5
        (reason,) = result.json["reasons"]
        assert reason == (
            "projector stalled: watermark stuck at 5 for 5s with events waiting up to the store head 10"
        )
        text = api.simulate_get("/metrics").text
        assert value(text, "readmodel_projector_stalled", reason="watermark_stuck") == 1
        assert value(text, "readmodel_ready") == 0

        # Unblocked: the watermark moves and readiness comes back at once.
        project_all(store, fake_redis)
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200
        text = api.simulate_get("/metrics").text
        assert value(text, "readmodel_projector_stalled", reason="watermark_stuck") == 0

    def test_stalls_are_judged_against_the_store_head_not_the_relay(
        self, fake_redis: Any, store: EventStore
    ) -> None:
        # The relay stopped too (its cursor equals the watermark): still a stall.
        clock = Clock()
        store.append(workspace_history(History()))
        ensure_live_generation(fake_redis)
        store.save_cursor(RELAY_CURSOR, Cursor(None, 0))
        api = client(fake_redis, store, clock, READMODEL_STALL_SECONDS="5")
        api.simulate_get("/openapi/v1/_ready")
        clock.now += 5
        assert api.simulate_get("/openapi/v1/_ready").status_code == 503

    def test_a_first_build_that_moves_is_not_a_stall(self, fake_redis: Any, store: EventStore) -> None:
        # No live generation while a rebuild writes the first one: not ready, but not
        # stalled either, however long the build takes, as long as it moves.
        clock = Clock()
        store.append(workspace_history(History()))
        api = client(fake_redis, store, clock, READMODEL_STALL_SECONDS="5")
        for built in (0, 2, 4):
            checkpoint = f'{{"generation": "gnext", "phase": "bulk", "events": {built}, "position": {built}}}'
            fake_redis.set(keys.REPLAY_POINTER, checkpoint)
            result = api.simulate_get("/openapi/v1/_ready")
            assert result.status_code == 503
            assert (result.json["stalled"], result.json["reasons"]) == (
                False,
                ["no live generation (the read model is not built yet)"],
            )
            assert (
                value(
                    api.simulate_get("/metrics").text,
                    "readmodel_projector_stalled",
                    reason="no_live_generation",
                )
                == 0
            )
            clock.now += 4

        # The build stops moving: after the stall window it is a stall.
        clock.now += 1
        result = api.simulate_get("/openapi/v1/_ready")
        assert result.json["stalled"] is True
        assert result.json["reasons"][1] == (
            "projector stalled: no live generation, and no rebuild made progress for 5s "
            "(4 events built, the store's head at 5)"
        )
        assert (
            value(
                api.simulate_get("/metrics").text, "readmodel_projector_stalled", reason="no_live_generation"
            )
            == 1
        )

    def test_no_live_generation_and_no_build_is_a_stall_after_the_window(
        self, fake_redis: Any, store: EventStore
    ) -> None:
        clock = Clock()
        store.append(workspace_history(History()))
        api = client(fake_redis, store, clock, READMODEL_STALL_SECONDS="5")
        assert api.simulate_get("/openapi/v1/_ready").json["stalled"] is False
        clock.now += 5
        assert api.simulate_get("/openapi/v1/_ready").json["stalled"] is True

    def test_an_idle_system_never_stalls(self) -> None:
        detector = StallDetector(5)
        assert not detector.observe(10, 10, 0).stalled
        assert not detector.observe(10, 10, 1000).stalled
        assert not detector.observe(12, 11, 1001).stalled  # it moved: the clock restarts
        assert detector.observe(12, 11, 1006).stalled

    def test_the_clock_starts_when_work_first_waits_not_at_the_last_move(self) -> None:
        detector = StallDetector(5)
        assert not detector.observe(100, 100, 0).stalled  # the watermark's last move
        # A long idle spell, then a burst: the watermark has not moved for 1000 s, but
        # nothing waited until now.
        verdict = detector.observe(5000, 100, 1000)
        assert (verdict.stalled, verdict.waited_seconds) == (False, 0)
        assert not detector.observe(5000, 2000, 1003).stalled  # progress
        assert not detector.observe(5000, 2000, 1007).stalled  # 4 s since that progress
        assert not detector.observe(5000, 5000, 1008).stalled  # caught up: nothing waits
        assert not detector.observe(6000, 5000, 2000).stalled  # the next burst, a fresh clock
        assert detector.observe(6000, 5000, 2005).stalled  # then 5 s with no progress

    def test_a_burst_after_a_long_idle_spell_keeps_the_api_ready(
        self, fake_redis: Any, store: EventStore
    ) -> None:
        clock = Clock()
        history = History()
        store.append(workspace_history(history))
        project_all(store, fake_redis)
        api = client(fake_redis, store, clock, READMODEL_STALL_SECONDS="5")
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200
        clock.now += 3600  # an hour with nothing to do, probed now and then
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200

        store.append(workspace_history(history))  # the burst: not applied yet
        result = api.simulate_get("/openapi/v1/_ready")
        assert result.status_code == 200, result.json
        assert (result.json["lag_events"], result.json["stalled"]) == (5, False)
        clock.now += 4
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200
        project_all(store, fake_redis)  # the projector keeps up
        clock.now += 2
        assert api.simulate_get("/openapi/v1/_ready").status_code == 200


# --- the store probe -------------------------------------------------------------------------


class TestStoreProbe:
    def test_it_reads_what_the_store_wrote(self, store: EventStore) -> None:
        probe = SqlStoreProbe(store.engine)
        assert probe.head() == 0
        assert probe.figures(5).dead_letters == 0  # the migrations made the table
        store.append(workspace_history(History()))
        store.save_cursor(RELAY_CURSOR, Cursor(None, 3))
        letters = DeadLetterStore(store.engine)
        letters.record([DeadLetter.for_event(store.read_after(0, 1)[0], "broken payload")])
        assert probe.head() == store.head_position() == 5
        assert probe.recorded_after(2) == store.read_after(2, 1)[0].recorded_at
        assert probe.recorded_after(5) is None
        figures = probe.figures(5)
        assert figures.relay_position == 3
        assert figures.dead_letters == 1
        (row,) = figures.recent_dead_letters
        assert (row.position, row.type, row.reason) == (1, "workspace.created", "broken payload")

    def test_the_relay_cursor_name_matches_the_relay(self) -> None:
        assert probe_module.RELAY_CURSOR == RELAY_CURSOR


# --- the status page -------------------------------------------------------------------------


@pytest.fixture
def ops(fake_redis: Any, store: EventStore) -> Any:
    history = History()
    store.append(workspace_history(history, apps=3))
    store.append(workspace_history(history, apps=1))
    project_all(store, fake_redis)
    store.append(workspace_history(history, apps=2))  # not applied yet: a lag of 5
    letters = DeadLetterStore(store.engine)
    letters.record([DeadLetter(reason="undecodable message: not JSON", body=b"{")])
    return client(fake_redis, store, READMODEL_ADMIN_TOKEN=ADMIN)


def sign_in(ops: Any, token: str, *, headers: dict[str, str] | None = None, protocol: str = "http") -> Any:
    """What the sign-in form sends."""
    return ops.simulate_post(
        "/ops",
        body=urlencode({"token": token}),
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        protocol=protocol,
    )


class TestStatusPage:
    def test_without_an_admin_token_configured_the_page_does_not_exist(self, fake_redis: Any) -> None:
        api = client(fake_redis)
        for path in ("/ops", "/ops/status.json", "/ops/static/ops.js"):
            result = api.simulate_get(path, headers=bearer("anything"))
            assert result.status_code == 404
            assert result.json["code"] == "not_found"

    def test_without_the_admin_token_it_answers_401(self, ops: Any) -> None:
        page = ops.simulate_get("/ops")
        assert page.status_code == 401
        assert page.headers["content-type"].startswith("text/html")
        assert 'name="token"' in page.text  # the login form
        assert ops.simulate_get("/ops", headers=bearer("dfoa_" + "0" * 32)).status_code == 401
        assert ops.simulate_get("/ops", params={"token": "wrong"}).status_code == 401
        status = ops.simulate_get("/ops/status.json")
        assert status.status_code == 401
        assert status.json == {"code": "unauthorized", "message": "admin token required", "status": 401}
        text = ops.simulate_get("/metrics").text
        assert value(text, "readmodel_auth_failures_total", reason="admin_token") == 4

    def test_the_admin_token_opens_the_page(self, ops: Any) -> None:
        page = ops.simulate_get("/ops", headers=bearer(ADMIN))
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert '<script src="/ops/static/ops.js"' in page.text
        assert "http" not in page.text.replace("http://www.w3.org", "")  # nothing from elsewhere
        script = ops.simulate_get("/ops/static/ops.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert ops.simulate_get("/ops/static/other.js").status_code == 404

    def test_the_sign_in_form_posts_the_token_and_gets_a_cookie(self, ops: Any) -> None:
        form = ops.simulate_get("/ops").text
        assert '<form method="post" action="/ops"' in form
        assert '<p id="refused" class="error" hidden>' in form  # no complaint before a try

        login = sign_in(ops, ADMIN)

        assert login.status_code == 303
        assert login.headers["location"].endswith("/ops")
        cookie = login.cookies["readmodel_ops"]
        assert cookie.http_only
        assert cookie.path == "/ops"
        assert not cookie.secure  # plain HTTP here
        assert ADMIN not in cookie.value
        headers = {"Cookie": f"readmodel_ops={cookie.value}"}
        assert ops.simulate_get("/ops", headers=headers).status_code == 200
        assert ops.simulate_get("/ops/status.json", headers=headers).status_code == 200
        forged = {"Cookie": "readmodel_ops=" + "0" * 64}
        assert ops.simulate_get("/ops/status.json", headers=forged).status_code == 401

    def test_a_wrong_token_says_so(self, ops: Any) -> None:
        refused = sign_in(ops, "not-the-token")
        assert refused.status_code == 401
        assert "readmodel_ops" not in refused.cookies
        assert '<p id="refused" class="error">Wrong token' in refused.text
        assert '<form method="post"' in refused.text

    def test_a_token_in_the_url_or_another_body_signs_nobody_in(self, ops: Any) -> None:
        in_url = ops.simulate_get("/ops", params={"token": ADMIN})
        assert in_url.status_code == 401
        assert "readmodel_ops" not in in_url.cookies
        as_json = ops.simulate_post("/ops", json={"token": ADMIN})
        assert as_json.status_code == 401
        assert "readmodel_ops" not in as_json.cookies
        other = ops.simulate_request("PUT", "/ops", headers=bearer(ADMIN))
        assert other.status_code == 405
        assert other.headers["allow"] == "GET, POST"

    @pytest.mark.parametrize(
        ("headers", "protocol"),
        [
            ({"X-Forwarded-Proto": "https"}, "http"),
            ({"Forwarded": "for=10.0.0.1;proto=https"}, "http"),
            ({}, "https"),
        ],
    )
    def test_the_cookie_is_secure_behind_tls(self, ops: Any, headers: dict[str, str], protocol: str) -> None:
        login = sign_in(ops, ADMIN, headers=headers, protocol=protocol)
        assert login.status_code == 303
        assert login.cookies["readmodel_ops"].secure

    def test_the_status_has_the_live_figures(self, ops: Any) -> None:
        ops.simulate_get("/openapi/v1/_health")
        ops.simulate_get("/ops/status.json", headers=bearer(ADMIN))  # the page's own polling
        status = ops.simulate_get("/ops/status.json", headers=bearer(ADMIN)).json
        store, model = status["store"], status["read_model"]
        assert (store["head"], model["watermark"], store["projector_lag_events"]) == (15, 10, 5)
        assert store["dead_letters"] == 1
        assert store["recent_dead_letters"][0]["reason"] == "undecodable message: not JSON"
        assert [(w["name"], w["apps"]) for w in status["workspaces"]] == [("Alpha", 3), ("Alpha", 1)]
        assert status["workspaces_complete"] is True
        (generation,) = status["generations"]
        assert generation["live"] is True
        assert generation["watermark"] == 10
        routes = {r["route"]: r for r in status["requests"]}
        assert routes["/openapi/v1/_health"]["count"] == 1
        assert not [route for route in routes if route.startswith("/ops")]
        assert status["replay"] is None

    def test_the_top_workspaces_scan_is_bounded(self, fake_redis: Any, store: EventStore) -> None:
        history = History()
        for _ in range(30):
            store.append(workspace_history(history, apps=1))
        project_all(store, fake_redis)
        metrics = new_api_metrics()
        probe = SqlStoreProbe(store.engine)
        readiness = Readiness(fake_redis, probe, metrics, max_lag_seconds=30, stall_seconds=30)
        status = OpsStatus(fake_redis, probe, readiness, metrics, scan_budget=1)
        snapshot = status.snapshot()
        assert len(snapshot["workspaces"]) <= 10
        assert snapshot["workspaces_complete"] is False


class TestRequestId:
    def test_a_sane_incoming_id_is_echoed_and_others_replaced(self, fake_redis: Any) -> None:
        api = client(fake_redis)
        sent = api.simulate_get("/openapi/v1/_health", headers={"X-Request-Id": "abc-123.x"})
        assert sent.headers["x-request-id"] == "abc-123.x"
        for bad in ("has space", "x" * 200, "<script>", "dfoa_" + "A" * 43):
            result = api.simulate_get("/openapi/v1/_health", headers={"X-Request-Id": bad})
            assert result.headers["x-request-id"] != bad
            assert len(result.headers["x-request-id"]) == 16
        missing = api.simulate_get("/nope")
        assert missing.status_code == 404
        assert len(missing.headers["x-request-id"]) == 16
        other = api.simulate_get("/nope")
        assert other.headers["x-request-id"] != missing.headers["x-request-id"]
