"""The consumer on RabbitMQ and a real Redis: it survives losing the broker connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib

from projector.broker.connection import connect
from projector.broker.consumer import ProjectorConsumer
from projector.broker.topology import Topology
from projector.dead_letters import DeadLetterStore
from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.generations import ensure_live_generation
from projector.seed import generate_history
from projector.store import EventStore
from projector.writer import RedisProjector
from tests.fixtures.broker import publish_store, remove_topology
from tests.fixtures.services import REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def store_backend() -> str:
    return "postgres"


@pytest.fixture
def amqp_topology(rabbitmq_url: str, topology: Topology) -> Iterator[Topology]:
    yield topology
    remove_topology(rabbitmq_url, topology)


@pytest.fixture
def redis_client(real_redis_db: int) -> Iterator[Any]:
    """A client of this run's own database of the real Redis, emptied before and after."""
    parts = urlsplit(REDIS_URL)
    client = redis_lib.Redis.from_url(urlunsplit((parts.scheme, parts.netloc, f"/{real_redis_db}", "", "")))
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _wait(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def test_the_consumer_reconnects_when_the_broker_drops_its_connection(
    event_store: EventStore, redis_client: Any, rabbitmq_url: str, amqp_topology: Topology
) -> None:
    history = list(generate_history(12, 5, seed=17))
    half = len(history) // 2
    event_store.append(history[:half])
    letters = DeadLetterStore(event_store.engine)
    generation, _ = ensure_live_generation(redis_client)
    consumer = ProjectorConsumer(
        connect(rabbitmq_url),
        RedisProjector(redis_client, event_store),
        letters,
        topology=amqp_topology,
        idle_wait=0.05,
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        first = publish_store(rabbitmq_url, amqp_topology, event_store)
        assert _wait(lambda: consumer.totals.messages >= first)
        active = consumer.active_connection
        assert active is not None
        # What a broker restart does to a client: the socket goes dead under it.
        transport: Any = active.connection
        transport.sock.shutdown(socket.SHUT_RDWR)
        assert _wait(lambda: consumer.active_connection not in (None, active))

        event_store.append(history[half:])
        second = publish_store(rabbitmq_url, amqp_topology, event_store)
        assert _wait(lambda: consumer.totals.messages >= first + second)
    finally:
        consumer.stop()
        thread.join(15)

    assert not thread.is_alive()
    model = MemoryProjection()
    model.fold_all(list(event_store.iter_all()))
    assert dump_generation(redis_client, generation) == model.dump()
    assert letters.count() == 0
