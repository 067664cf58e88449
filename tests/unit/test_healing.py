"""Self-healing tells a Redis that lost data from a projector that is behind and from dead letters."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from projector import wiring
from projector.dead_letters import DeadLetter, DeadLetterStore
from projector.generations import ensure_live_generation, live_generation
from projector.healing import ACKNOWLEDGED_CURSOR, SelfHealer
from projector.replay import RebuildInterrupted
from projector.store import Cursor, EventStore
from projector.verify import verify
from projector.writer import RedisProjector
from projector.writer.watermark import Watermarks
from shared.readmodel import keys
from tests.unit.api_events import History
from tests.unit.test_metrics import workspace_history


@pytest.fixture
def letters(event_store: EventStore) -> DeadLetterStore:
    return DeadLetterStore(event_store.engine)


def _healer(
    store: EventStore, redis: Any, letters: DeadLetterStore, stop: threading.Event | None = None
) -> SelfHealer:
    return wiring.self_healer(store, redis, stop or threading.Event())


def _projected(store: EventStore, redis: Any, workspaces: int = 2) -> int:
    """Workspaces appended and applied, the projector's acknowledgement saved; the head."""
    history = History()
    for _ in range(workspaces):
        store.append(workspace_history(history))
    ensure_live_generation(redis)
    RedisProjector(redis, store).apply(store.read_after(0, 1000))
    head = store.head_position()
    store.save_cursor(ACKNOWLEDGED_CURSOR, Cursor(None, head))
    return head


def _watermark(redis: Any) -> int:
    generation = live_generation(redis)
    assert generation is not None
    return Watermarks(redis).read(generation)


def test_no_live_generation_is_rebuilt(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    event_store.append(workspace_history(History()))
    healer = _healer(event_store, fake_redis, letters)
    assert healer.diagnose() == "no live generation (empty or flushed Redis)"
    summary = healer.check_and_heal()
    assert summary is not None
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []


def test_a_projector_that_has_not_caught_up_is_no_loss(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    head = _projected(event_store, fake_redis)
    event_store.append(workspace_history(History()))  # appended, not applied yet
    healer = _healer(event_store, fake_redis, letters)
    assert healer.diagnose() is None
    assert healer.check_and_heal() is None
    assert _watermark(fake_redis) == head


def test_dead_letters_at_the_watermarks_front_are_passed_not_rebuilt(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    _projected(event_store, fake_redis)
    generation = live_generation(fake_redis)
    assert generation is not None
    # As a projector before this release left it: the last two events dead-lettered (and
    # acknowledged), the watermark below them.
    fake_redis.set(keys.full_key(generation, keys.WATERMARK), 8)
    letters.record(
        [DeadLetter(reason="invalid event", position=9), DeadLetter(reason="invalid", position=10)]
    )
    healer = _healer(event_store, fake_redis, letters)

    assert healer.diagnose() is None
    assert _watermark(fake_redis) == 10
    assert fake_redis.get(keys.HEAL_RECORD) is None


def test_the_watermark_passes_dead_letters_only_up_to_the_first_event_that_is_none(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    _projected(event_store, fake_redis)
    generation = live_generation(fake_redis)
    assert generation is not None
    fake_redis.set(keys.full_key(generation, keys.WATERMARK), 6)
    letters.record([DeadLetter(reason="x", position=7), DeadLetter(reason="y", position=9)])

    assert _healer(event_store, fake_redis, letters).pass_dead_letters(generation) == 7
    assert _watermark(fake_redis) == 7


def test_a_watermark_behind_the_acknowledged_position_is_lost_data_and_rebuilt(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    head = _projected(event_store, fake_redis)
    generation = live_generation(fake_redis)
    assert generation is not None
    fake_redis.set(keys.full_key(generation, keys.WATERMARK), 4)  # Redis restarted from an old snapshot
    healer = _healer(event_store, fake_redis, letters)

    reason = healer.diagnose()
    assert reason == f"watermark 4 is behind the acknowledged position {head} (Redis lost data)"
    summary = healer.check_and_heal()
    assert summary is not None
    assert summary.generation != generation
    assert _watermark(fake_redis) == head
    assert fake_redis.hget(keys.HEAL_RECORD, "reason") == reason.encode()


def test_a_rebuild_catching_up_after_its_flip_is_no_loss(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    head = _projected(event_store, fake_redis)
    generation = live_generation(fake_redis)
    assert generation is not None
    fake_redis.set(keys.full_key(generation, keys.WATERMARK), head - 1)
    fake_redis.set(keys.REPLAY_POINTER, f'{{"generation": "{generation}", "phase": "tail"}}')
    assert _healer(event_store, fake_redis, letters).diagnose() is None


def test_a_fresh_start_over_stored_events_is_built_once(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    # As `readmodel up` starts over a captured store: a rebuild, its cursor noted as settled.
    event_store.append(workspace_history(History()))
    healer = _healer(event_store, fake_redis, letters)
    first = healer.check_and_heal()
    assert first is not None
    assert first.cursor.position == event_store.head_position()  # a position, never a sentinel
    event_store.save_cursor(ACKNOWLEDGED_CURSOR, first.cursor)

    assert healer.diagnose() is None
    assert healer.check_and_heal() is None
    assert live_generation(fake_redis) == first.generation


def test_an_acknowledged_cursor_past_the_stores_head_is_no_loss(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    _projected(event_store, fake_redis)
    # What an earlier release saved after a rebuild on PostgreSQL: a horizon, not a position.
    event_store.save_cursor(ACKNOWLEDGED_CURSOR, Cursor(None, 2**62))
    healer = _healer(event_store, fake_redis, letters)
    assert healer.diagnose() is None
    assert healer.check_and_heal() is None


def test_an_interrupted_heal_releases_its_lock_and_the_next_start_resumes(
    event_store: EventStore, fake_redis: Any, letters: DeadLetterStore
) -> None:
    history = History()
    for _ in range(30):
        event_store.append(workspace_history(history))
    stop = threading.Event()
    healer = wiring.self_healer(event_store, fake_redis, stop)
    stop.set()  # the process is stopping as the rebuild starts
    with pytest.raises(RebuildInterrupted):
        healer.check_and_heal()
    assert fake_redis.get(keys.HEAL_LOCK) is None
    assert fake_redis.get(keys.REPLAY_POINTER) is not None  # its checkpoint, to resume from

    summary = _healer(event_store, fake_redis, letters).check_and_heal()
    assert summary is not None
    assert summary.resumed
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []
