"""Redis is disposable: flushed under a running read model, it comes back by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from projector.generations import live_generation
from projector.migrations import migrate
from projector.store import EventStore, create_engine_for
from projector.verify import verify
from shared.readmodel import keys
from tests.fixtures.redis_server import RedisServer, free_port
from tests.support.cli import READMODEL


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi/v1/_health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_flushall_under_a_running_read_model_heals_itself(tmp_path: Path, redis_server: RedisServer) -> None:
    database_url = f"sqlite:///{tmp_path / 'events.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("READMODEL_")}
    env["READMODEL_METRICS_PORT"] = str(free_port())
    env |= {"READMODEL_DATABASE_URL": database_url, "READMODEL_REDIS_URL": redis_server.url}
    port = free_port()
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(
        [READMODEL, "up", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    redis = redis_server.client()
    engine = create_engine_for(database_url)
    try:
        _wait_for(lambda: _healthy(port), 90, "the API to answer")
        migrate(engine)
        store = EventStore(engine)
        first = live_generation(redis)
        assert first is not None
        _wait_for(lambda: verify(store.iter_all(), redis, first) == [], 30, "the first build to settle")

        redis.flushall()

        _wait_for(lambda: live_generation(redis) is not None, 60, "the rebuild after FLUSHALL")
        healed = live_generation(redis)
        assert healed is not None
        assert healed != first
        _wait_for(lambda: verify(store.iter_all(), redis, healed) == [], 30, "the rebuilt model to verify")
        assert redis.hget(keys.HEAL_RECORD, "reason") is not None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
        engine.dispose()
