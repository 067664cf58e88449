"""The consumer: batches from the broker applied through the writer, acknowledged after Redis."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from projector import wiring
from projector.broker.connection import connect
from projector.broker.consumer import CursorCheckpoint, ProjectorConsumer
from projector.broker.publisher import Publisher
from projector.broker.topology import Topology
from projector.dead_letters import DeadLetterStore
from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.fold.state import split_stored
from projector.generations import ensure_live_generation, live_generation
from projector.relay import RELAY_CURSOR
from projector.seed import generate_history
from projector.store import Cursor, EventStore
from projector.writer import BatchResult, RedisProjector
from shared.errors import StoreUnavailableError
from shared.events import StoredEvent
from shared.readmodel import keys
from shared.settings import Settings
from tests.fixtures.broker import publish_store, remove_topology, run_consumer_until
from tests.unit.test_api_http import closed_port


@pytest.fixture
def store_backend() -> str:
    return "sqlite"


@pytest.fixture
def seeded(event_store: EventStore) -> EventStore:
    event_store.append(list(generate_history(4, 5, seed=3)))
    return event_store


@pytest.fixture
def letters(event_store: EventStore) -> DeadLetterStore:
    return DeadLetterStore(event_store.engine)


def folded(events: Sequence[StoredEvent]) -> dict[str, object]:
    model = MemoryProjection()
    model.fold_all(events)
    return model.dump()


def live_dump(redis: Any) -> dict[str, object]:
    generation = live_generation(redis)
    assert generation is not None
    return dump_generation(redis, generation)


def consumer_for(
    url: str, redis: Any, store: EventStore, letters: DeadLetterStore, topology: Topology, **options: Any
):
    return ProjectorConsumer(
        connect(url), RedisProjector(redis, store), letters, topology=topology, idle_wait=0.05, **options
    )


def handled(consumer: ProjectorConsumer) -> int:
    return consumer.totals.messages


def test_consumer_applies_every_event_and_equals_the_fold(
    seeded: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Topology, broker_url: str
) -> None:
    ensure_live_generation(fake_redis)
    published = publish_store(broker_url, topology, seeded)
    consumer = consumer_for(broker_url, fake_redis, seeded, letters, topology, batch_size=64)

    run_consumer_until(consumer, lambda: handled(consumer) >= published)

    assert live_dump(fake_redis) == folded(list(seeded.iter_all()))
    assert consumer.totals.applied == published
    assert consumer.totals.batches > 1  # batched, not one event per write
    assert letters.count() == 0


def test_duplicates_reordering_and_redeliveries_change_nothing(
    seeded: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Topology
) -> None:
    url = "memory://"
    ensure_live_generation(fake_redis)
    everything = list(seeded.iter_all())
    first = publish_store(url, topology, seeded)
    seeded.save_cursor(RELAY_CURSOR, Cursor(None, 0))
    second = publish_store(url, topology, seeded)  # the whole store again, as after a relay crash
    shuffled = [(Cursor(None, s.position), s) for s in everything]
    random.Random(5).shuffle(shuffled)
    publisher = Publisher(connect(url), topology, seeded)
    publisher.publish(shuffled)  # and once more in a random order
    publisher.close()
    consumer = consumer_for(url, fake_redis, seeded, letters, topology, batch_size=50)

    run_consumer_until(consumer, lambda: handled(consumer) >= first + second + len(shuffled))

    assert live_dump(fake_redis) == folded(everything)
    assert consumer.totals.applied == len(everything)
    assert consumer.totals.messages == first + second + len(shuffled)
    assert letters.count() == 0


class CountingProjector:
    """The real writer, counting the batches that reached it and those that raised."""

    def __init__(self, projector: RedisProjector) -> None:
        self._projector = projector
        self.failures = 0

    def apply(self, events: Sequence[StoredEvent], owners: Any = None) -> BatchResult:
        try:
            return self._projector.apply(events, owners)
        except Exception:
            self.failures += 1
            raise


def test_a_redis_outage_is_waited_out_and_never_dead_letters(
    seeded: EventStore, letters: DeadLetterStore, topology: Topology
) -> None:
    import fakeredis

    url = "memory://"
    server = fakeredis.FakeServer()
    redis = fakeredis.FakeRedis(server=server)
    ensure_live_generation(redis)
    published = publish_store(url, topology, seeded)
    projector = CountingProjector(RedisProjector(redis, seeded))
    consumer = ProjectorConsumer(connect(url), projector, letters, topology=topology, idle_wait=0.05)

    server.connected = False

    def recovered() -> bool:
        if projector.failures >= 3:
            server.connected = True
        return handled(consumer) >= published

    run_consumer_until(consumer, recovered)

    assert projector.failures >= 3
    assert letters.count() == 0
    assert live_dump(redis) == folded(list(seeded.iter_all()))


class BrokenFor:
    """The real writer, except that any batch holding `position` raises (a bug, not an outage)."""

    def __init__(self, projector: RedisProjector, position: int) -> None:
        self._projector = projector
        self._position = position
        self.raised = 0

    def apply(self, events: Sequence[StoredEvent], owners: Any = None) -> BatchResult:
        if any(stored.position == self._position for stored in events):
            self.raised += 1
            raise RuntimeError(f"cannot handle position {self._position}")
        return self._projector.apply(events, owners)


def test_an_event_the_handler_keeps_failing_on_is_dead_lettered_after_three_attempts(
    seeded: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Topology
) -> None:
    url = "memory://"
    ensure_live_generation(fake_redis)
    everything = list(seeded.iter_all())
    # The last event of an app stream: nothing later in its stream depends on it.
    last_of_stream = {stored.event.stream: stored for stored in everything}
    victim = next(s for stream, s in last_of_stream.items() if stream.startswith("app:"))
    published = publish_store(url, topology, seeded)
    projector = BrokenFor(RedisProjector(fake_redis, seeded), victim.position)
    consumer = ProjectorConsumer(connect(url), projector, letters, topology=topology, idle_wait=0.05)

    run_consumer_until(consumer, lambda: handled(consumer) >= published)

    (letter,) = letters.read()
    assert letter.position == victim.position
    assert letter.event_id == victim.event.id
    assert letter.stream == victim.event.stream
    assert letter.attempts == 3
    assert "handler failed 3 times" in letter.reason
    assert "cannot handle position" in letter.reason
    assert live_dump(fake_redis) == folded([s for s in everything if s.position != victim.position])


def test_the_embedded_flow_picks_up_what_the_in_process_broker_lost(
    sqlite_url: str, seeded: EventStore, fake_redis: Any, topology: Topology
) -> None:
    settings = Settings(database_url=sqlite_url)
    flow = wiring.event_flow(settings, seeded, fake_redis, names=topology)
    flow.start()
    run_consumer_until(_Idle(flow.consumer), lambda: _caught_up(fake_redis, seeded))
    flow.stop()
    assert flow.failures == {}

    # More events are relayed, then the process dies before the consumer saw them: the
    # memory:// broker forgets them (here: the queue is deleted with its messages).
    seeded.append(list(generate_history(2, 3, seed=99)))
    publish_store("memory://", topology, seeded)
    remove_topology("memory://", topology)

    again = wiring.event_flow(settings, seeded, fake_redis, names=topology)
    again.start()
    run_consumer_until(_Idle(again.consumer), lambda: _caught_up(fake_redis, seeded))
    again.stop()
    assert again.failures == {}
    assert live_dump(fake_redis) == folded(list(seeded.iter_all()))


class _Idle:
    """Lets `run_consumer_until` wait on a flow that runs its own threads."""

    def __init__(self, consumer: ProjectorConsumer) -> None:
        self._consumer = consumer
        self._done = False

    def run(self) -> None:
        import time

        while not self._done:
            time.sleep(0.01)

    def stop(self) -> None:
        self._done = True


def _caught_up(redis: Any, store: EventStore) -> bool:
    generation = live_generation(redis)
    if generation is None:
        return False
    raw = redis.get(keys.full_key(generation, keys.WATERMARK))
    return raw is not None and int(raw) == store.head_position()


def test_a_consumer_waiting_for_an_unreachable_broker_stops_at_once(
    fake_redis: Any, event_store: EventStore, letters: DeadLetterStore, topology: Topology
) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    consumer = consumer_for(url, fake_redis, event_store, letters, topology)
    waits: list[float] = []
    consumer.on_connection_error = lambda _exc, interval: waits.append(interval)  # type: ignore[method-assign]
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(waits) < 3:  # past the short first waits: now a long one is under way
        assert time.monotonic() < deadline, "the consumer never tried to connect"
        time.sleep(0.01)

    stopped_at = time.monotonic()
    consumer.stop()
    thread.join(5)

    assert not thread.is_alive(), "the consumer kept waiting for the broker after stop()"
    assert time.monotonic() - stopped_at < 2


def test_a_checkpoint_the_store_cannot_take_is_kept_for_later() -> None:
    saved: list[Cursor] = []
    down = [True]

    def save(cursor: Cursor) -> None:
        if down[0]:
            raise StoreUnavailableError("the event store is unavailable: connection refused")
        saved.append(cursor)

    checkpoint = CursorCheckpoint(save, interval=0)
    checkpoint.advance(Cursor(None, 5))  # the store is down: no error, nothing lost
    down[0] = False
    checkpoint.flush()
    checkpoint.flush()
    assert saved == [Cursor(None, 5)]


def test_a_message_of_an_earlier_relay_is_applied_for_its_events_own_owner(
    seeded: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Topology
) -> None:
    """A body without `owner` and `to` (relayed before events were routed by owner): the
    writer asks the store whose the event is, and applies it for that owner alone."""
    import orjson

    from tests.fixtures.broker import publish_raw

    url = "memory://"
    ensure_live_generation(fake_redis)
    workspace = next(s for s in seeded.iter_all() if s.event.type == "workspace.created")
    publish_raw(url, topology, orjson.dumps(workspace.to_dict()))
    consumer = consumer_for(url, fake_redis, seeded, letters, topology)

    run_consumer_until(consumer, lambda: handled(consumer) >= 1)

    assert consumer.totals.applied == 1
    assert letters.count() == 0
    assert workspace.owner is not None
    state = keys.stream_state(workspace.owner.split(":", 1)[1], workspace.event.stream)
    stored = fake_redis.hget(keys.full_key(live_generation(fake_redis) or "", state), "v")
    assert split_stored(stored)[0] == 1
