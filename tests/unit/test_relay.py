"""The relay: settled events from the store onto the broker, the cursor moving only after confirms."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

import orjson
import pytest

from projector.broker.connection import connect
from projector.broker.errors import BrokerUnavailableError
from projector.broker.publisher import Publisher
from projector.broker.topology import Topology
from projector.relay import RELAY_CURSOR, Relay
from projector.seed import generate_history
from projector.store import Cursor, EventStore
from shared.events import Event, StoredEvent
from tests.fixtures.broker import drain


@pytest.fixture
def store_backend() -> str:
    return "sqlite"


@pytest.fixture
def seeded(event_store: EventStore) -> EventStore:
    event_store.append(list(generate_history(3, 4, seed=11)))
    return event_store


class FlakyPublisher:
    """A real publisher that refuses the batches numbered in `fail_on` (1-based), as an outage would."""

    def __init__(self, publisher: Publisher, fail_on: set[int]) -> None:
        self._publisher = publisher
        self._fail_on = fail_on
        self.calls = 0

    def publish(self, batch: Sequence[tuple[Cursor, StoredEvent]]) -> None:
        self.calls += 1
        if self.calls in self._fail_on:
            raise BrokerUnavailableError("the broker went away")
        self._publisher.publish(batch)

    def reset(self) -> None:
        self._publisher.reset()


def _positions(url: str, topology: Topology, partition: int = 0, *, expected: int) -> list[int]:
    messages = drain(url, topology, partition, expected=expected)
    return [orjson.loads(message.body)["position"] for message in messages]


def test_relay_publishes_every_event_in_order_and_saves_its_cursor(
    seeded: EventStore, topology: Topology, broker_url: str
) -> None:
    publisher = Publisher(connect(broker_url), topology)
    relay = Relay(seeded, publisher, batch_size=50)
    total = 0
    while published := relay.run_once():
        total += published
    publisher.close()

    head = seeded.head_position()
    assert total == seeded.count()
    assert _positions(broker_url, topology, expected=head) == list(range(1, head + 1))
    assert seeded.load_cursor(RELAY_CURSOR).position == head


def test_message_carries_the_stored_event_and_its_cursor(
    seeded: EventStore, topology: Topology, broker_url: str
) -> None:
    publisher = Publisher(connect(broker_url), topology)
    Relay(seeded, publisher, batch_size=1).run_once()
    publisher.close()

    (message,) = drain(broker_url, topology, expected=1)
    first = seeded.read_after(0, 1)[0]
    assert orjson.loads(message.body) == orjson.loads(orjson.dumps(first.to_dict()))
    assert message.headers["position"] == first.position
    assert message.content_type == "application/json"
    assert message.properties["delivery_mode"] == 2


def test_cursor_does_not_move_when_publishing_fails(seeded: EventStore, topology: Topology) -> None:
    url = "memory://"
    flaky = FlakyPublisher(Publisher(connect(url), topology), fail_on={2})
    relay = Relay(seeded, flaky, batch_size=10)

    assert relay.run_once() == 10
    with pytest.raises(BrokerUnavailableError):
        relay.run_once()
    assert seeded.load_cursor(RELAY_CURSOR).position == 10

    relay = Relay(seeded, flaky, batch_size=10)  # a restart starts from the saved cursor
    while relay.run_once():
        pass
    flaky.reset()
    head = seeded.head_position()
    assert _positions(url, topology, expected=head) == list(range(1, head + 1))


def test_run_waits_out_an_outage_and_publishes_everything_once_it_ends(
    seeded: EventStore, topology: Topology
) -> None:
    url = "memory://"
    flaky = FlakyPublisher(Publisher(connect(url), topology), fail_on={1, 2, 3})
    relay = Relay(seeded, flaky, batch_size=100)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        for _ in range(200):
            if seeded.load_cursor(RELAY_CURSOR).position == seeded.head_position():
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    flaky.reset()
    assert not thread.is_alive()
    assert flaky.calls > 3
    head = seeded.head_position()
    assert _positions(url, topology, expected=head) == list(range(1, head + 1))


def test_publishing_to_an_unreachable_broker_raises_the_projects_error(
    seeded: EventStore, topology: Topology
) -> None:
    publisher = Publisher(connect("amqp://guest:guest@127.0.0.1:1//"), topology)
    batch = seeded.read_settled(Cursor(None, 0), 5)
    with pytest.raises(BrokerUnavailableError):
        publisher.publish(batch)


def _event(workspace_id: str | None, stream: str, kind: str = "app.updated") -> Event:
    return Event(
        id=str(uuid.uuid4()),
        type=kind,
        stream=stream,
        version=1,
        workspace_id=workspace_id,
        occurred_at="2025-06-02T08:00:00+00:00",
        data={},
    )


def test_routing_key_names_the_partition_and_the_workspace_or_stream() -> None:
    topology = Topology(partitions=8)
    workspace_id = str(uuid.uuid4())
    app = _event(workspace_id, f"app:{uuid.uuid4()}")
    account_id = str(uuid.uuid4())
    account = _event(None, f"account:{account_id}", "account.updated")

    partition = topology.partition_of(app)
    assert topology.routing_key(app) == f"p{partition}.ws.{workspace_id}"
    assert topology.routing_key(account) == f"p{topology.partition_of(account)}.stream.account.{account_id}"
    # Every event of a workspace goes to the same partition, whatever its stream.
    other = _event(workspace_id, f"workspace:{workspace_id}", "workspace.renamed")
    assert topology.partition_of(other) == partition
    # crc32 is stable across processes and versions (unlike hash()): this must never change.
    pinned = _event("00000000-0000-0000-0000-000000000001", "app:x")
    assert Topology(partitions=4).routing_key(pinned).startswith("p3.")


def test_each_workspace_lands_in_its_partition_queue(seeded: EventStore) -> None:
    url = "memory://"
    topology = Topology.with_suffix(f"test-{uuid.uuid4().hex[:12]}", partitions=3)
    publisher = Publisher(connect(url), topology)
    relay = Relay(seeded, publisher, batch_size=500)
    while relay.run_once():
        pass
    publisher.close()

    by_position = {stored.position: stored.event for stored in seeded.iter_all()}
    seen: list[int] = []
    for partition in range(3):
        positions = _positions(url, topology, partition, expected=0)
        assert positions == sorted(positions)  # in store order within a partition
        assert all(topology.partition_of(by_position[p]) == partition for p in positions)
        seen.extend(positions)
    assert sorted(seen) == sorted(by_position)
