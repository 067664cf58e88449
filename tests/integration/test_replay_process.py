"""Rebuilds as operators run them: a real `readmodel replay` process, killed and resumed."""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Iterator

import orjson
import pytest

from projector.fold.redis_dump import dump_generation
from projector.generations import live_generation
from projector.migrations import migrate
from projector.replay import Rebuild
from projector.seed import generate_history
from projector.store import Cursor, EventStore, create_engine_for
from projector.verify import verify
from shared.readmodel import keys
from tests.fixtures.redis_server import RedisServer
from tests.support.cli import READMODEL
from tests.support.histories import random_history

pytestmark = pytest.mark.integration


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    return os.environ | {"READMODEL_DATABASE_URL": database_url, "READMODEL_REDIS_URL": redis_url}


def test_kill_9_mid_replay_leaves_live_untouched_and_the_next_replay_resumes(
    fresh_postgres_url: str, redis_server: RedisServer
) -> None:
    engine = create_engine_for(fresh_postgres_url)
    migrate(engine)
    store = EventStore(engine)
    store.append(list(generate_history(20, 40, 3)))
    redis = redis_server.client()
    live = Rebuild(store, redis, cursor_factory=Cursor).run().generation
    before = dump_generation(redis, live)
    store.append(random_history(random.Random(8), steps=400))

    replay = subprocess.Popen(
        [READMODEL, "replay", "--batch-size", "50"],
        env=_env(fresh_postgres_url, redis_server.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        raw = redis.get(keys.REPLAY_POINTER)
        if raw is not None and orjson.loads(raw)["events"] >= 500:
            break
        assert replay.poll() is None, "the replay finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    replay.kill()
    replay.wait(10)

    assert live_generation(redis) == live
    assert dump_generation(redis, live) == before
    resumed = subprocess.run(
        [READMODEL, "replay", "--json"],
        env=_env(fresh_postgres_url, redis_server.url),
        capture_output=True,
        check=True,
        timeout=120,
    )
    summary = orjson.loads(resumed.stdout.splitlines()[-1])
    assert summary["resumed"] is True
    assert summary["previous"] == live
    assert live_generation(redis) == summary["generation"]
    assert verify(store.iter_all(), redis, summary["generation"]) == []
    assert list(redis.scan_iter(match=keys.generation_pattern(live))) == []
    engine.dispose()


@pytest.fixture
def store(fresh_postgres_url: str) -> Iterator[EventStore]:
    """A store of its own on PostgreSQL, migrated."""
    engine = create_engine_for(fresh_postgres_url)
    migrate(engine)
    yield EventStore(engine)
    engine.dispose()


def settled(store: EventStore) -> None:
    """Wait until every stored event is settled: a transaction still open anywhere on the
    PostgreSQL server (other work shares it) holds rebuilds and the relay before them."""
    deadline = time.monotonic() + 60
    while len(store.read_settled(store.load_cursor("nothing yet"), store.count() + 1)) < store.count():
        assert time.monotonic() < deadline, "the appended events did not settle"
        time.sleep(0.1)


def readmodel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [READMODEL, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_verify_command_reports_a_tampered_document(
    store: EventStore, fresh_postgres_url: str, redis_server: RedisServer
) -> None:
    store.append(list(generate_history(3, 10, 4)))
    settled(store)
    redis = redis_server.client()
    generation = Rebuild(store, redis, cursor_factory=Cursor).run().generation
    env = _env(fresh_postgres_url, redis_server.url)
    clean = readmodel(env, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # A visible app's row in its workspace's rows.
    rows = next(iter(redis.scan_iter(match=keys.full_key(generation, "ws:{*}:rows"))))
    app_id = next(iter(redis.hkeys(rows)))
    redis.hset(rows, app_id, b'{"tampered":true}')
    dirty = readmodel(env, "verify")
    assert dirty.returncode == 1
    assert "different" in dirty.stdout
    assert "tampered" in dirty.stdout


def test_after_a_replay_status_shows_the_relay_where_the_rebuild_left_it(
    store: EventStore, fresh_postgres_url: str, redis_server: RedisServer
) -> None:
    store.append(list(generate_history(3, 10, 5)))
    settled(store)
    env = _env(fresh_postgres_url, redis_server.url)
    assert readmodel(env, "replay").returncode == 0

    shown = readmodel(env, "status", "--json")

    model = orjson.loads(shown.stdout)["read_model"]
    assert model["watermark"] == store.head_position()
    assert (model["relay_position"], model["relay_lag_events"]) == (model["watermark"], 0)


def test_verify_refuses_a_workspace_the_store_does_not_know(
    store: EventStore, fresh_postgres_url: str, redis_server: RedisServer
) -> None:
    store.append(list(generate_history(2, 3, 6)))
    known = next(o for o in store.owners_after(None, 100) if o.startswith("workspace:")).split(":", 1)[1]
    settled(store)
    Rebuild(store, redis_server.client(), cursor_factory=Cursor).run()
    env = _env(fresh_postgres_url, redis_server.url)

    for workspace in ("0b7c4d7e-53f4-4c41-9a36-1f3bd0c2a2f7", "not-a-uuid"):
        refused = readmodel(env, "verify", "--workspace", workspace)
        assert (refused.returncode, refused.stdout) == (2, "")
        assert (
            refused.stderr
            == f"readmodel: --workspace: unknown workspace {workspace!r} (no stored event names it)\n"
        )
    clean = readmodel(env, "verify", "--workspace", known.upper())
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith(f"no differences in workspace {known}")
