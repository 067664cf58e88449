"""The whole event flow on PostgreSQL, RabbitMQ and Redis: store → relay → broker → projector.

The read model must equal the store folded in memory by the projector's own fold after a normal run, after
poison and its replay, and after the projector process was killed (-9) at random points.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
import redis as redis_lib

from projector import wiring
from projector.broker.connection import connect
from projector.broker.consumer import dead_letter_queue_depth
from projector.broker.publisher import Publisher
from projector.broker.topology import Topology
from projector.cli import main as cli
from projector.dead_letters import DeadLetterStore
from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.generations import ensure_live_generation
from projector.relay import Relay
from projector.seed import generate_history
from projector.store import EventStore
from projector.store.schema import events as events_table
from shared.readmodel import keys
from shared.settings import Settings
from tests.fixtures.broker import partitioned_suffix
from tests.fixtures.services import REDIS_URL
from tests.support.cli import READMODEL

pytestmark = pytest.mark.integration


@pytest.fixture
def store_backend() -> str:
    return "postgres"


@pytest.fixture
def suffix(rabbitmq_url: str) -> Iterator[str]:
    with partitioned_suffix(rabbitmq_url, 3) as value:
        yield value


@pytest.fixture
def redis_url(real_redis_db: int) -> str:
    """The URL of this run's own database of the real Redis (for the processes started here)."""
    parts = urlsplit(REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{real_redis_db}", "", ""))


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A client of that database, emptied before and after the test."""
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _folded(store: EventStore) -> dict[str, object]:
    model = MemoryProjection()
    model.fold_all(list(store.iter_all()))
    return model.dump()


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_a_seeded_history_through_three_partitions_equals_the_fold(
    event_store: EventStore, store_url: str, redis_client: Any, rabbitmq_url: str, suffix: str
) -> None:
    event_store.append(list(generate_history(30, 8, seed=5)))
    generation, _ = ensure_live_generation(redis_client)
    settings = Settings(database_url=store_url, broker_url=rabbitmq_url, partitions=3)
    topology = Topology.with_suffix(suffix, partitions=3)
    flow = wiring.event_flow(settings, event_store, redis_client, names=topology)
    expected = _folded(event_store)
    flow.start()
    try:
        total = event_store.count()
        # An event goes out as one message per partition of the owners it concerns (copies
        # for the owners that show it), so counting messages against events would stop the
        # flow before every copy is applied: wait for the read model itself.
        _wait(lambda: dump_generation(redis_client, generation) == expected, timeout=60)
    finally:
        flow.stop()
    assert flow.failures == {}
    assert flow.relay.published == total
    assert flow.consumer.totals.messages > total  # the copies went to other partitions
    assert dump_generation(redis_client, generation) == expected


def _insert_raw(store: EventStore, stream: str, version: int, workspace_id: str, data: Any) -> int:
    row = {
        "id": str(uuid.uuid4()),
        "type": "app.updated",
        "schema": 1,
        "stream": stream,
        "version": version,
        "workspace_id": workspace_id,
        "occurred_at": "2025-07-01T10:00:00+00:00",
        "data": orjson.dumps(data).decode(),
        "recorded_at": datetime.now(UTC),
    }
    with store.engine.begin() as conn:
        return int(conn.execute(events_table.insert().returning(events_table.c.position), row).scalar_one())


def _cli(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv, env)
    return code, out.getvalue()


def test_poison_reaches_the_dead_letter_queue_and_dlq_replay_settles_it_after_a_fix(
    event_store: EventStore,
    store_url: str,
    redis_client: Any,
    redis_url: str,
    rabbitmq_url: str,
    suffix: str,
) -> None:
    event_store.append(list(generate_history(6, 4, seed=9)))
    last = {s.event.stream: s.event for s in event_store.iter_all() if s.event.stream.startswith("app:")}
    app = next(e for e in last.values() if e.type != "app.deleted")
    assert app.workspace_id is not None
    invalid = _insert_raw(event_store, app.stream, app.version + 1, app.workspace_id, {"name": 7})
    generation, _ = ensure_live_generation(redis_client)
    settings = Settings(database_url=store_url, broker_url=rabbitmq_url, partitions=3)
    topology = Topology.with_suffix(suffix, partitions=3)
    flow = wiring.event_flow(settings, event_store, redis_client, names=topology)
    expected = _folded(event_store)
    letters = DeadLetterStore(event_store.engine)
    flow.start()
    try:  # until every message, copies included, is settled (see the test above)
        _wait(lambda: letters.count() == 1 and dump_generation(redis_client, generation) == expected, 60)
    finally:
        flow.stop()
    assert [x.position for x in letters.read()] == [invalid]
    connection = connect(rabbitmq_url)
    try:  # the rejected message went through RabbitMQ's dead-letter exchange too
        assert _wait(lambda: dead_letter_queue_depth(connection, topology) == 1, timeout=10)
    finally:
        connection.release()
    assert dump_generation(redis_client, generation) == _folded(event_store)

    with event_store.engine.begin() as conn:
        conn.execute(
            events_table.update().where(events_table.c.position == invalid).values(data='{"name": "Fixed"}')
        )
    env = {
        "READMODEL_DATABASE_URL": store_url,
        "READMODEL_BROKER_URL": rabbitmq_url,
        "READMODEL_REDIS_URL": redis_url,
        "READMODEL_PARTITIONS": "3",
    }
    code, out = _cli(["dlq", "replay", "--all", "--names-suffix", suffix], env)

    assert code == 0, out
    assert "1 settled" in out
    assert letters.count() == 0
    connection = connect(rabbitmq_url)
    try:
        assert dead_letter_queue_depth(connection, topology) == 0
    finally:
        connection.release()
    assert dump_generation(redis_client, generation) == _folded(event_store)


def _start_projector(env: dict[str, str], suffix: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(READMODEL), "project", "--names-suffix", suffix, "--batch-size", "200", "--prefetch", "200"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killing_the_projector_at_random_points_leaves_no_trace(
    event_store: EventStore,
    store_url: str,
    redis_client: Any,
    redis_url: str,
    rabbitmq_url: str,
    suffix: str,
) -> None:
    history = list(generate_history(60, 8, seed=13))
    generation, _ = ensure_live_generation(redis_client)
    topology = Topology.with_suffix(suffix, partitions=3)
    env = {
        **os.environ,
        "READMODEL_DATABASE_URL": store_url,
        "READMODEL_BROKER_URL": rabbitmq_url,
        "READMODEL_REDIS_URL": redis_url,
        "READMODEL_PARTITIONS": "3",
    }
    stop = threading.Event()
    publisher = Publisher(connect(rabbitmq_url), topology, event_store)
    relay = Relay(event_store, publisher, batch_size=100)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    relay_thread.start()

    def watermark() -> int:
        raw = redis_client.get(keys.full_key(generation, keys.WATERMARK))
        return 0 if raw is None else int(raw)

    rng = random.Random(2)
    rounds = 4
    size = len(history) // (rounds + 1)
    projector = _start_projector(env, suffix)
    try:
        for round_ in range(rounds):
            part = history[round_ * size : (round_ + 1) * size]
            appender = threading.Thread(target=_append_steadily, args=(event_store, part), daemon=True)
            before = watermark()
            appender.start()
            # Killed while it works: once it applied some of this round, at a random moment.
            assert _wait(lambda: watermark() > before, timeout=30)  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.3))
            projector.send_signal(signal.SIGKILL)
            projector.wait(10)
            projector = _start_projector(env, suffix)
            appender.join(60)
        event_store.append(history[rounds * size :])
        expected = _folded(event_store)
        assert _wait(lambda: dump_generation(redis_client, generation) == expected, timeout=90)
    finally:
        projector.send_signal(signal.SIGTERM)
        projector.wait(15)
        stop.set()
        relay_thread.join(15)
        publisher.close()

    assert event_store.count() == len(history)
    assert DeadLetterStore(event_store.engine).count() == 0
    assert dump_generation(redis_client, generation) == expected


def _append_steadily(store: EventStore, events: list[Any], chunk: int = 20) -> None:
    """Append events a slice at a time, so there is work in flight for a while."""
    for start in range(0, len(events), chunk):
        store.append(events[start : start + chunk])
        time.sleep(0.05)
