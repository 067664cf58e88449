"""A rebuild's bulk phase in worker processes: the same read model, stoppable, resumable."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
import redis.exceptions

from projector import wiring
from projector.replay import RebuildInterrupted
from projector.store import EventStore
from shared.readmodel import keys
from shared.settings import Settings
from tests.fixtures.redis import database_url
from tests.support.histories import random_history
from tests.unit.test_bulk_build import _live_writer, _with_invalid_and_ownerless_rows, built

pytestmark = pytest.mark.integration


def _settings(store_url: str, real_redis_db: int) -> Settings:
    return Settings(database_url=store_url, redis_url=database_url(real_redis_db))


def test_workers_build_what_the_live_writer_writes(
    event_store: EventStore, store_url: str, real_redis: Any, real_redis_db: int
) -> None:
    event_store.append(random_history(random.Random(7), steps=400))
    _with_invalid_and_ownerless_rows(event_store)
    expected = _live_writer(event_store, real_redis)
    rebuild = wiring.rebuild(
        event_store,
        real_redis,
        batch_size=10,
        settings=_settings(store_url, real_redis_db),
        workers=3,
        parallel_from=0,
    )
    summary = rebuild.run()
    assert summary.events == event_store.count()
    assert real_redis.get(keys.REPLAY_POINTER) is None
    assert built(real_redis, summary.generation) == expected


def test_workers_stopped_end_at_their_checkpoints_and_the_next_rebuild_resumes(
    event_store: EventStore, store_url: str, real_redis: Any, real_redis_db: int
) -> None:
    event_store.append(random_history(random.Random(8), steps=200))
    _with_invalid_and_ownerless_rows(event_store)
    expected = _live_writer(event_store, real_redis)
    settings = _settings(store_url, real_redis_db)
    stop = threading.Event()
    runs = 0
    while True:
        runs += 1
        stop.clear()
        seen: list[int] = []

        def stop_soon(_: object, seen: list[int] = seen) -> None:
            seen.append(1)
            if len(seen) == 3:
                stop.set()

        rebuild = wiring.rebuild(
            event_store,
            real_redis,
            batch_size=20,
            stop=stop,
            on_progress=stop_soon,
            settings=settings,
            workers=2,
        )
        try:
            generation = rebuild.run().generation
            break
        except RebuildInterrupted:
            continue
    assert runs > 2
    assert built(real_redis, generation) == expected


def test_a_worker_that_loses_redis_fails_the_rebuild_as_redis_and_the_next_resumes(
    event_store: EventStore, store_url: str, real_redis: Any, real_redis_db: int
) -> None:
    event_store.append(random_history(random.Random(9), steps=200))
    expected = _live_writer(event_store, real_redis)
    unreachable = Settings(database_url=store_url, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(redis.exceptions.ConnectionError):
        wiring.rebuild(event_store, real_redis, settings=unreachable, workers=2, parallel_from=0).run()
    assert real_redis.get(keys.REPLAY_POINTER) is not None

    settings = _settings(store_url, real_redis_db)
    summary = wiring.rebuild(event_store, real_redis, settings=settings, workers=2, parallel_from=0).run()
    assert summary.resumed
    assert built(real_redis, summary.generation) == expected
