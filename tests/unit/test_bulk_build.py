"""A rebuild's bulk phase writes exactly what the live writer writes, event by event."""

from __future__ import annotations

import random
import threading
from typing import Any

import orjson
import pytest

from projector.fold.redis_dump import dump_generation
from projector.replay import Rebuild, RebuildInterrupted
from projector.store import Cursor, EventStore
from projector.writer import RedisProjector
from shared.events import parse_event
from shared.readmodel import keys
from tests.support.histories import random_history
from tests.support.rows import insert_row

_ORACLE = "oracle"


def _live_writer(store: EventStore, redis: Any) -> tuple[dict[str, object], dict[int, str]]:
    """The store applied by the live writer in small batches of store order, into a generation
    of its own: its dump, and the events it found poison (position -> reason)."""
    writer = RedisProjector(redis, store, generation=_ORACLE)
    events = list(store.iter_all())
    poison: dict[int, str] = {}
    for start in range(0, len(events), 7):
        result = writer.apply(events[start : start + 7])
        poison.update((p.event.position, p.reason) for p in result.poison)
    return dump_generation(redis, _ORACLE), poison


def built(redis: Any, generation: str) -> tuple[dict[str, object], dict[int, str]]:
    """A rebuilt generation's dump, and the events it found poison (position -> reason)."""
    poison = redis.hgetall(keys.full_key(generation, keys.POISON))
    return dump_generation(redis, generation), {int(k): v.decode() for k, v in poison.items()}


def _rebuilt(store: EventStore, redis: Any, batch_size: int) -> tuple[dict[str, object], dict[int, str]]:
    return built(redis, Rebuild(store, redis, cursor_factory=Cursor, batch_size=batch_size).run().generation)


# Parts of 5 events cut owners and streams in many places; 2,000 keeps every owner whole.
@pytest.mark.parametrize("batch_size", [5, 2000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_rebuild_writes_what_the_live_writer_writes(
    event_store: EventStore, any_redis: Any, seed: int, batch_size: int
) -> None:
    event_store.append(random_history(random.Random(seed), steps=250))
    expected = _live_writer(event_store, any_redis)
    assert expected[0]
    assert _rebuilt(event_store, any_redis, batch_size) == expected


def _with_invalid_and_ownerless_rows(store: EventStore) -> None:
    history = random_history(random.Random(4), steps=120)
    store.append(history)
    app = next(e for e in history if e.type == "app.created")
    workspace = f"workspace:{app.workspace_id}"
    top = {stream: store.next_version(stream) for stream in (app.stream, workspace)}
    # A row written around the append in the middle of an app's stream, then one appended
    # after it (which gets the stream's owner): the owner's read of the store has a gap.
    renamed = orjson.dumps({"name": "Renamed around the append"}).decode()
    insert_row(store, app.stream, top[app.stream], app.workspace_id, "app.updated", renamed)
    store.append([_event(app.stream, top[app.stream] + 1, app.workspace_id, {"name": "After"})])
    # An unreadable row in the workspace's stream, and a valid one behind it: both poison.
    insert_row(store, workspace, top[workspace], app.workspace_id, "workspace.renamed", "{not json")
    insert_row(store, workspace, top[workspace] + 1, app.workspace_id, "workspace.renamed", renamed)


@pytest.mark.parametrize("batch_size", [3, 2000])
def test_a_rebuild_takes_invalid_and_ownerless_rows_as_the_live_writer_does(
    event_store: EventStore, any_redis: Any, batch_size: int
) -> None:
    _with_invalid_and_ownerless_rows(event_store)
    expected = _live_writer(event_store, any_redis)
    assert len(expected[1]) == 2
    assert _rebuilt(event_store, any_redis, batch_size) == expected


def test_an_app_shown_by_one_part_and_deleted_in_the_next_is_written_afresh(
    event_store: EventStore, any_redis: Any
) -> None:
    # Parts of 2 events cut the app's stream after its creation and updates: the part with
    # its deletion starts from a visible app, whose hash is deleted and written afresh.
    history = random_history(random.Random(5), steps=60)
    event_store.append(history)
    app = next(e for e in history if e.type == "app.created")
    top = event_store.next_version(app.stream)
    later = [
        _event(app.stream, top, app.workspace_id, {"name": "Shown first"}),
        _event(app.stream, top + 1, app.workspace_id, {}, type="app.deleted"),
    ]
    event_store.append(later)
    expected = _live_writer(event_store, any_redis)
    assert _rebuilt(event_store, any_redis, batch_size=2) == expected


def test_a_rebuild_stopped_at_every_checkpoint_still_writes_what_the_live_writer_writes(
    event_store: EventStore, any_redis: Any
) -> None:
    _with_invalid_and_ownerless_rows(event_store)
    expected = _live_writer(event_store, any_redis)
    stop = threading.Event()
    runs = 0
    while True:
        stop.clear()
        runs += 1
        rebuild = Rebuild(
            event_store,
            any_redis,
            cursor_factory=Cursor,
            batch_size=4,
            stop=stop,
            on_progress=lambda _: stop.set(),
        )
        try:
            generation = rebuild.run().generation
            break
        except RebuildInterrupted:
            continue
    assert runs > 20
    assert built(any_redis, generation) == expected


def _event(
    stream: str, version: int, workspace_id: str | None, data: dict[str, Any], *, type: str = "app.updated"
) -> Any:
    return parse_event(
        {
            "id": f"00000000-0000-4000-8000-{version:012d}",
            "type": type,
            "stream": stream,
            "version": version,
            "workspace_id": workspace_id,
            "occurred_at": "2026-02-01T00:00:00+00:00",
            "data": data,
        }
    )
