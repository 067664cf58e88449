"""The relay: settled events from the store onto the broker, the cursor moving only after confirms."""

from __future__ import annotations

import threading
import uuid
import zlib
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
from shared.events import StoredEvent
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
    publisher = Publisher(connect(broker_url), topology, seeded)
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
    publisher = Publisher(connect(broker_url), topology, seeded)
    Relay(seeded, publisher, batch_size=1).run_once()
    publisher.close()

    (message,) = drain(broker_url, topology, expected=1)
    first = seeded.read_after(0, 1)[0]
    assert first.owner is not None
    # The event, the owner of its stream, and the owners this message is for (its own).
    expected = first.to_dict() | {"owner": first.owner, "to": [first.owner]}
    assert orjson.loads(message.body) == orjson.loads(orjson.dumps(expected))
    assert message.headers["position"] == first.position
    assert message.content_type == "application/json"
    assert message.properties["delivery_mode"] == 2


def test_cursor_does_not_move_when_publishing_fails(seeded: EventStore, topology: Topology) -> None:
    url = "memory://"
    flaky = FlakyPublisher(Publisher(connect(url), topology, seeded), fail_on={2})
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
    flaky = FlakyPublisher(Publisher(connect(url), topology, seeded), fail_on={1, 2, 3})
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
    publisher = Publisher(connect("amqp://guest:guest@127.0.0.1:1//"), topology, seeded)
    batch = seeded.read_settled(Cursor(None, 0), 5)
    with pytest.raises(BrokerUnavailableError):
        publisher.publish(batch)


def test_an_owner_names_its_partition_and_the_routing_key() -> None:
    topology = Topology(partitions=8)
    workspace_id = str(uuid.uuid4())
    partition = topology.partition_of(f"workspace:{workspace_id}")
    assert (
        topology.routing_key(partition, [f"workspace:{workspace_id}"])
        == f"p{partition}.workspace:{workspace_id}"
    )
    # A workspace is hashed by its id, an account by its stream's name, as events with and
    # without a workspace always were: crc32 is stable across processes and versions (unlike
    # hash()), so these must never change.
    assert Topology(partitions=4).partition_of("workspace:00000000-0000-0000-0000-000000000001") == 3
    account = "account:00000000-0000-0000-0000-000000000001"
    assert Topology(partitions=4).partition_of(account) == zlib.crc32(account.encode()) % 4


def test_an_event_lands_in_the_partition_of_every_owner_it_goes_to(seeded: EventStore) -> None:
    """Each owner's events in its partition, in store order; a membership event also in its
    member's partition, an account's event also in those of the workspaces with its apps."""
    url = "memory://"
    topology = Topology.with_suffix(f"test-{uuid.uuid4().hex[:12]}", partitions=3)
    publisher = Publisher(connect(url), topology, seeded)
    relay = Relay(seeded, publisher, batch_size=500)
    while relay.run_once():
        pass
    publisher.close()

    everything = list(seeded.iter_all())
    authors: dict[str, set[str]] = {}
    for stored in everything:
        if stored.event.type == "app.created":
            authors.setdefault(stored.event.data["created_by"], set()).add(
                f"workspace:{stored.event.workspace_id}"
            )
    expected: dict[int, set[int]] = {k: set() for k in range(3)}
    for stored in everything:
        owners = {stored.owner}
        if stored.event.type.startswith("workspace.member_"):
            owners.add(f"account:{stored.event.data['account_id']}")
        if stored.event.stream_kind == "account":
            owners |= authors.get(stored.event.stream_id, set())
        for owner in owners:
            assert owner is not None
            expected[topology.partition_of(owner)].add(stored.position)
    assert any(len(found) > 1 for found in _partitions_of(expected).values())  # copies went out
    for partition in range(3):
        messages = drain(url, topology, partition, expected=len(expected[partition]))
        positions = [orjson.loads(message.body)["position"] for message in messages]
        assert positions == sorted(expected[partition])  # once each, in store order
        for message in messages:
            to = orjson.loads(message.body)["to"]
            assert {topology.partition_of(owner) for owner in to} == {partition}


def _partitions_of(expected: dict[int, set[int]]) -> dict[int, set[int]]:
    """Position -> the partitions it went to."""
    found: dict[int, set[int]] = {}
    for partition, positions in expected.items():
        for position in positions:
            found.setdefault(position, set()).add(partition)
    return found
