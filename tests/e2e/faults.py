"""What the fault-injection tests share: a store the test appends to, and where the read model stands."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis as redis_lib

from projector.generations import live_generation
from projector.seed import generate_history
from projector.store import EventStore
from projector.verify import verify
from shared.readmodel import keys
from tests.fixtures.database import migrated_store
from tests.support.processes import Command, started

_SEEDS = itertools.count(1000)


# The store the processes under test read, migrated, for the test to append to.
event_store = migrated_store


def append_history(store: EventStore, workspaces: int = 2, apps: int = 3) -> int:
    """Append a history no earlier call appended (new streams); returns the store's head."""
    store.append(list(generate_history(workspaces, apps, seed=next(_SEEDS))))
    return store.head_position()


def watermark(redis: Any) -> int | None:
    """The live generation's watermark, or None when there is none (or Redis is down)."""
    try:
        generation = live_generation(redis)
        return None if generation is None else int(redis.get(keys.full_key(generation, keys.WATERMARK)) or 0)
    except redis_lib.RedisError:
        return None


def caught_up(store: EventStore, redis: Any) -> bool:
    return watermark(redis) == store.head_position()


def matches_the_store(store: EventStore, redis: Any) -> bool:
    generation = live_generation(redis)
    return generation is not None and verify(store.iter_all(), redis, generation) == []


def copy_store(template: Path, folder: Path) -> str:
    """A copy of a store file made by `large_store`, as a SQLite URL of the test's own."""
    target = folder / "events.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def write_large_store(path: Path, workspaces: int = 160, apps: int = 40) -> int:
    """A SQLite store of ~20k events (a rebuild of it takes seconds: long enough to be
    interrupted); one file, its write-ahead log folded in. Returns the event count."""
    url = f"sqlite:///{path}"
    with event_store(url) as store:
        store.append(list(generate_history(workspaces, apps, seed=7)))
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return store.count()


@contextmanager
def relay_and_projector(
    env: Mapping[str, str], suffix: str, folder: Path
) -> Iterator[tuple[Command, Command]]:
    """`readmodel relay` and `readmodel project` on the test's own broker names, for the block."""
    with (
        started(["relay", "--names-suffix", suffix], env, folder) as relay,
        started(["project", "--names-suffix", suffix], env, folder) as project,
    ):
        yield relay, project
