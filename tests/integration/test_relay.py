"""The relay on PostgreSQL and RabbitMQ: late commits are delivered, a killed relay skips nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import Connection

from projector.broker import topology as topo
from projector.broker.connection import connect
from projector.broker.errors import BrokerUnavailableError
from projector.broker.publisher import Publisher
from projector.broker.topology import Topology
from projector.relay import RELAY_CURSOR, Relay
from projector.seed import generate_history
from projector.store import EventStore
from projector.store.schema import events as events_table
from shared.events import Event
from tests.fixtures.broker import drain
from tests.support.cli import READMODEL

pytestmark = pytest.mark.integration


@pytest.fixture
def store_backend() -> str:
    return "postgres"


@pytest.fixture
def amqp_topology(rabbitmq_url: str, topology: Topology) -> Iterator[Topology]:
    yield topology
    from tests.fixtures.broker import remove_topology

    remove_topology(rabbitmq_url, topology)


def _renamed(workspace_id: str, version: int, name: str) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        type="workspace.created" if version == 1 else "workspace.renamed",
        stream=f"workspace:{workspace_id}",
        version=version,
        workspace_id=workspace_id,
        occurred_at="2025-06-02T08:00:00+00:00",
        data={"name": name},
    )


def _insert_in(conn: Connection, event: Event) -> int:
    statement = events_table.insert().returning(events_table.c.position)
    row = {
        "id": event.id,
        "type": event.type,
        "schema": event.schema,
        "stream": event.stream,
        "version": event.version,
        "workspace_id": event.workspace_id,
        "occurred_at": event.occurred_at,
        "data": orjson.dumps(event.data).decode(),
        "recorded_at": datetime.now(UTC),
    }
    return int(conn.execute(statement, row).scalar_one())


def test_a_late_commit_is_delivered_not_skipped(
    event_store: EventStore, rabbitmq_url: str, amqp_topology: Topology
) -> None:
    publisher = Publisher(connect(rabbitmq_url), amqp_topology, event_store)
    relay = Relay(event_store, publisher, batch_size=100)
    a, b = _renamed(str(uuid.uuid4()), 1, "A"), _renamed(str(uuid.uuid4()), 1, "B")

    with event_store.engine.connect() as conn_a:
        transaction = conn_a.begin()
        position_a = _insert_in(conn_a, a)  # A takes the earlier position and stays open
        position_b = event_store.append([b]).positions[0]  # B takes a later one, commits first
        assert position_b > position_a
        published_while_open = relay.run_once()
        transaction.commit()
    while relay.run_once():
        pass
    publisher.close()

    delivered = [orjson.loads(m.body)["id"] for m in drain(rabbitmq_url, amqp_topology, expected=2)]
    assert sorted(delivered) == sorted([a.id, b.id])
    assert published_while_open == 0  # B waited behind the running A instead of overtaking it
    assert event_store.load_cursor(RELAY_CURSOR).position in (position_a, position_b)


def _start_relay(env: dict[str, str], suffix: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(READMODEL), "relay", "--batch-size", "100", "--names-suffix", suffix],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killing_the_relay_at_random_points_loses_and_skips_nothing(
    event_store: EventStore, store_url: str, rabbitmq_url: str, amqp_topology: Topology
) -> None:
    history = list(generate_history(40, 6, seed=8))
    suffix = amqp_topology.exchange.removeprefix("readmodel.events.")
    env = {
        **os.environ,
        "READMODEL_DATABASE_URL": store_url,
        "READMODEL_BROKER_URL": rabbitmq_url,
    }

    def cursor() -> int:
        return event_store.load_cursor(RELAY_CURSOR).position

    def append_steadily(events: list[Event]) -> None:
        for start in range(0, len(events), 10):
            event_store.append(events[start : start + 10])
            time.sleep(0.05)

    rng = random.Random(1)
    rounds = 4
    size = len(history) // (rounds + 1)
    relay = _start_relay(env, suffix)
    try:
        for round_ in range(rounds):
            part = history[round_ * size : (round_ + 1) * size]
            appender = threading.Thread(target=append_steadily, args=(part,), daemon=True)
            before = cursor()
            appender.start()
            # Killed while it works: once it moved its cursor in this round, at a random moment.
            assert _wait(lambda: cursor() > before, timeout=30)  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.3))
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
            relay = _start_relay(env, suffix)
            appender.join(60)
        event_store.append(history[rounds * size :])
        head = event_store.head_position()
        assert _wait(lambda: cursor() == head, timeout=60)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(15)

    assert event_store.count() == len(history)
    positions = [orjson.loads(m.body)["position"] for m in drain(rabbitmq_url, amqp_topology, expected=head)]
    assert set(positions) == set(range(1, head + 1))  # every event, duplicates allowed


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_a_message_the_broker_cannot_route_fails_the_batch(
    event_store: EventStore, rabbitmq_url: str, amqp_topology: Topology
) -> None:
    event_store.append([_renamed(str(uuid.uuid4()), 1, "A"), _renamed(str(uuid.uuid4()), 1, "B")])
    publisher = Publisher(connect(rabbitmq_url), amqp_topology, event_store)
    relay = Relay(event_store, publisher, batch_size=1)
    assert relay.run_once() == 1
    # The queue disappears behind the publisher's back: the exchange has nowhere to route to.
    admin = connect(rabbitmq_url)
    try:
        (queue,) = topo.partition_queues(amqp_topology, amqp=True)
        queue(admin.default_channel).delete()
    finally:
        admin.release()
    with pytest.raises(BrokerUnavailableError, match="refused"):
        relay.run_once()
    publisher.close()
    assert event_store.load_cursor(RELAY_CURSOR).position == 1
