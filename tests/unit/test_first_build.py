"""A first build of an empty read model is no self-heal: an info line, and no heal on record."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import pytest

from projector import wiring
from projector.dead_letters import DeadLetterStore
from projector.generations import live_generation
from projector.healing import ACKNOWLEDGED_CURSOR, SelfHealer
from projector.replay import Rebuild
from projector.store import Cursor, EventStore
from shared.readmodel import keys
from tests.support.histories import random_history

pytestmark = pytest.mark.parametrize("store_backend", ["sqlite"])


def healer(store: EventStore, redis: Any, acknowledged: int, *, fresh_redis: bool = False) -> SelfHealer:
    return SelfHealer(
        redis,
        lambda: Rebuild(store, redis, cursor_factory=Cursor),
        lambda: acknowledged,
        events=store,
        dead_letters=DeadLetterStore(store.engine),
        clock=lambda: 1000.0,
        fresh_redis=fresh_redis,
    )


def heal_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name == "readmodel.healing"
    ]


@pytest.fixture
def store(event_store: EventStore) -> EventStore:
    event_store.append(random_history(random.Random(3), steps=40))
    return event_store


def test_nothing_acknowledged_and_no_generation_is_a_first_build(
    store: EventStore, fake_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    assert healer(store, fake_redis, acknowledged=0).check_and_heal() is not None

    assert live_generation(fake_redis) is not None
    assert fake_redis.exists(keys.HEAL_RECORD) == 0
    lines = heal_lines(caplog)
    assert {level for level, _ in lines} == {logging.INFO}
    assert lines[0][1] == "building the read model from the store (first start)"


def test_an_embedded_redis_at_start_is_a_first_build_whatever_was_acknowledged(
    store: EventStore, fake_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    embedded = healer(store, fake_redis, acknowledged=25, fresh_redis=True)

    assert embedded.check_and_heal() is not None

    assert fake_redis.exists(keys.HEAL_RECORD) == 0
    assert {level for level, _ in heal_lines(caplog)} == {logging.INFO}
    fake_redis.delete(keys.LIVE_POINTER)  # lost later on: that is a heal
    assert embedded.check_and_heal() is not None
    assert fake_redis.hget(keys.HEAL_RECORD, "reason") == b"no live generation (empty or flushed Redis)"


def test_a_flushed_redis_after_acknowledged_events_is_a_heal(
    store: EventStore, fake_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    assert healer(store, fake_redis, acknowledged=25).check_and_heal() is not None

    assert fake_redis.hget(keys.HEAL_RECORD, "reason") == b"no live generation (empty or flushed Redis)"
    assert [level for level, _ in heal_lines(caplog)] == [logging.WARNING, logging.WARNING]


def test_a_redis_lost_after_the_first_build_is_a_heal_though_no_message_was_acknowledged(
    store: EventStore, fake_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The first build covered every event before the projector acknowledged a message: the
    # read model it made is what the store's cursor must say Redis holds.
    caplog.set_level(logging.INFO)
    noted = wiring.self_healer(store, fake_redis, threading.Event())

    assert noted.check_and_heal() is not None
    assert store.load_cursor(ACKNOWLEDGED_CURSOR).position == store.head_position()

    fake_redis.flushall()
    assert noted.check_and_heal() is not None
    assert fake_redis.hget(keys.HEAL_RECORD, "reason") == b"no live generation (empty or flushed Redis)"
    assert heal_lines(caplog)[-1][0] == logging.WARNING
