"""The projector writes exactly the oracle's read model, whatever the delivery order."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projector.fold.memory import MemoryReadModel
from projector.fold.redis_dump import dump_generation
from projector.generations import ensure_live_generation
from projector.writer import RedisProjector
from shared.events import Event, StoredEvent, parse_event
from shared.readmodel import keys
from tests.fixtures.readmodel import EventLog
from tests.fixtures.redis import make_fake_redis
from tests.support.histories import random_history


def _oracle(stored: list[StoredEvent]) -> dict[str, object]:
    model = MemoryReadModel()
    model.fold_all(stored)
    return model.dump()


def _build(events: list[Event]) -> tuple[Any, EventLog, list[StoredEvent], RedisProjector]:
    redis = make_fake_redis()
    log = EventLog()
    stored = log.record(events)
    ensure_live_generation(redis)
    return redis, log, stored, RedisProjector(redis, log)


def _live_dump(redis: Any) -> dict[str, object]:
    generation = redis.get(keys.LIVE_POINTER).decode()
    return dump_generation(redis, generation)


def test_in_order_delivery_equals_the_oracle() -> None:
    redis, _, stored, projector = _build(random_history(random.Random(7), steps=120))
    result = projector.apply(stored)
    assert not result.poison
    assert len(result.applied) == len(stored)
    assert _live_dump(redis) == _oracle(stored)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history_seed=st.integers(0, 2**32),
    delivery_seed=st.integers(0, 2**32),
    batch=st.integers(1, 40),
)
def test_any_interleaving_with_duplicates_equals_the_oracle(
    history_seed: int, delivery_seed: int, batch: int
) -> None:
    redis, _, stored, projector = _build(random_history(random.Random(history_seed), steps=50))
    rng = random.Random(delivery_seed)
    delivery = stored + rng.sample(stored, len(stored) // 3)  # duplicates
    rng.shuffle(delivery)  # any order, across and within streams
    for start in range(0, len(delivery), batch):
        result = projector.apply(delivery[start : start + batch])
        assert not result.poison
    assert _live_dump(redis) == _oracle(stored)


def test_redelivering_everything_changes_nothing() -> None:
    redis, _, stored, projector = _build(random_history(random.Random(3), steps=80))
    projector.apply(stored)
    before = _live_dump(redis)
    result = projector.apply(stored)
    assert len(result.duplicates) == len(stored)
    assert not result.applied
    assert _live_dump(redis) == before


def test_a_late_event_fills_its_gap_from_the_store() -> None:
    redis, _, stored, projector = _build(random_history(random.Random(11), steps=40))
    last = stored[-1]
    result = projector.apply([last])
    earlier = [s for s in stored if s.event.stream == last.event.stream and s is not last]
    assert result.gap_filled == len(earlier)
    projector.apply(stored)
    assert _live_dump(redis) == _oracle(stored)


def test_an_invalid_event_blocks_only_its_own_stream() -> None:
    events = random_history(random.Random(5), steps=40)
    victim = next(e for e in events if e.type == "app.created")
    broken = replace(victim, data={**victim.data, "mode": 42})
    events = [broken if e is victim else e for e in events]
    # Written straight into the log: the store would refuse it at append.
    redis, _, stored, projector = _build(events)
    result = projector.apply(stored)
    poisoned_streams = {p.event.event.stream for p in result.poison}
    assert poisoned_streams == {victim.stream}
    assert "data.mode" in result.poison[0].reason
    healthy = [s for s in stored if s.event.stream != victim.stream]
    dump = _live_dump(redis)
    oracle = _oracle(stored)
    assert dump == oracle
    assert len(result.applied) == len(healthy)


def test_an_unknown_type_is_skipped_and_counted_but_advances_its_stream() -> None:
    events = random_history(random.Random(9), steps=10)
    app_event = next(e for e in events if e.type == "app.created")
    last = max(e.version for e in events if e.stream == app_event.stream)
    future = parse_event(
        {
            **app_event.to_dict(),
            "id": "00000000-0000-4000-8000-000000000001",
            "type": "app.archived",
            "version": last + 1,
            "data": {},
        },
        allow_unknown_type=True,
    )
    redis, log, _, projector = _build([])
    stored = log.record([*events, future])
    result = projector.apply(stored)
    assert [s.event.type for s, _ in result.skipped] == ["app.archived"]
    assert not result.poison
    assert _live_dump(redis) == _oracle(stored)


@pytest.mark.integration
def test_in_order_delivery_on_real_redis(real_redis: Any) -> None:
    log = EventLog()
    stored = log.record(random_history(random.Random(21), steps=150))
    ensure_live_generation(real_redis)
    projector = RedisProjector(real_redis, log)
    rng = random.Random(1)
    delivery = stored + rng.sample(stored, 40)
    rng.shuffle(delivery)
    for start in range(0, len(delivery), 25):
        assert not projector.apply(delivery[start : start + 25]).poison
    assert _live_dump(real_redis) == _oracle(stored)


@pytest.mark.parametrize("first", ["rename", "creation"])
def test_a_rename_and_an_app_its_account_creates_meanwhile_meet_right(first: str) -> None:
    """Different partitions' writers: whichever lands between the other's fold and apply, the
    new app ends with the new author name (a rename that read the account's app set before
    the app joined it must notice the set moved and fold again)."""
    from tests.support.races import BeforeFirstScript, rename_and_creation

    before, rename, creation = rename_and_creation()
    redis, log, stored, projector = _build(before)
    projector.apply(stored)
    renamed, created = log.record([rename, creation])
    inner, outer = (renamed, created) if first == "rename" else (created, renamed)
    racing = BeforeFirstScript(redis, lambda: RedisProjector(redis, log).apply([inner]))
    assert not RedisProjector(racing, log).apply([outer]).poison
    assert _live_dump(redis) == _oracle(log.events)
