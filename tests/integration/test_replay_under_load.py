"""A rebuild while a writer appends and readers hammer the API: nobody notices it."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import falcon.testing
import pytest

from projector.generations import live_generation
from projector.migrations import migrate
from projector.replay import Rebuild
from projector.seed import demo_history
from projector.store import Cursor, EventStore, create_engine_for
from projector.verify import verify
from projector.writer import RedisProjector
from query_api.app import create_app
from shared.settings import Settings
from tests.fixtures.redis_server import RedisServer
from tests.support.histories import random_history
from tests.support.limits import UNLIMITED

pytestmark = pytest.mark.integration


def test_replay_under_appends_and_reads_is_invisible_to_readers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    database_url = f"sqlite:///{tmp_path / 'events.db'}"
    engine = create_engine_for(database_url)
    migrate(engine)
    store = EventStore(engine)
    demo = demo_history(seed=2, workspaces=10, apps=40)
    store.append(demo.events)
    redis = redis_server.client()
    first = Rebuild(store, redis, cursor_factory=Cursor).run().generation
    live_projector = RedisProjector(redis, store)
    app = create_app(
        Settings.from_env(
            {"READMODEL_DATABASE_URL": database_url, "READMODEL_REDIS_URL": redis_server.url, **UNLIMITED}
        ),
        redis=redis_server.client(),
    )
    stop = threading.Event()
    problems: list[str] = []
    responses = [0]

    def append_and_project() -> None:
        rng = random.Random(4)
        while not stop.is_set():
            batch = random_history(rng, steps=10)
            result = store.append(batch)
            fresh = store.read_after(store.head_position() - result.new, result.new)
            live_projector.apply(fresh)

    def read() -> None:
        client = falcon.testing.TestClient(app)
        headers = {"Authorization": f"Bearer {demo.token}"}
        last = 0
        while not stop.is_set():
            answer = client.simulate_get(
                "/openapi/v1/apps", params={"workspace_id": demo.workspace_id}, headers=headers
            )
            responses[0] += 1
            position = int(answer.headers["x-readmodel-position"])
            if (
                answer.status_code != 200
                or not answer.json["data"]
                or answer.json["total"] < len(answer.json["data"])
            ):
                problems.append(f"bad page at position {position}: {answer.status_code} {answer.text[:200]}")
            if position < last:
                problems.append(f"X-Readmodel-Position went back from {last} to {position}")
            last = position

    threads = [
        threading.Thread(target=append_and_project),
        threading.Thread(target=read),
        threading.Thread(target=read),
    ]
    for thread in threads:
        thread.start()
    try:
        summary = Rebuild(store, redis, cursor_factory=Cursor, batch_size=100).run()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert problems == []
    assert responses[0] > 0
    assert summary.previous == first
    assert live_generation(redis) == summary.generation
    # Whatever the writer appended last is applied by the live projector, then all is exact.
    live_projector.apply(list(store.iter_all()))
    assert verify(store.iter_all(), redis, summary.generation) == []
    engine.dispose()
