"""Where events travel: the exchange, the partition queues and the dead-letter path, in one place.

Events are routed by owner (shared/readmodel/owners.py): each owner's events stay in one
queue, in order, and that queue's single active consumer is the only writer of the owner's
keys. The routing key starts with a partition number (`p<k>.`), a stable hash of the owner
(a workspace's id, or an account's stream name, as events have always been routed), so the
work is spread over several queues without changing what the relay publishes. An event
other owners keep a copy of goes to each of their partitions too, once per partition.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from shared.readmodel.owners import partition_key

# A message the broker has handed out this many times without an acknowledgement (the
# consumer keeps dying on it) is moved to the dead-letter queue instead of looping forever.
DELIVERY_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Topology:
    """The names and the partitioning of the broker objects; a suffix keeps test runs apart."""

    exchange: str = "readmodel.events"
    queue_prefix: str = "readmodel.projector"
    dead_letter_exchange: str = "readmodel.dead"
    dead_letter_queue: str = "readmodel.dead"
    partitions: int = 1

    @classmethod
    def with_suffix(cls, suffix: str, *, partitions: int = 1) -> Topology:
        """The default names, each followed by `.<suffix>`."""
        base = cls()
        return cls(
            exchange=f"{base.exchange}.{suffix}",
            queue_prefix=f"{base.queue_prefix}.{suffix}",
            dead_letter_exchange=f"{base.dead_letter_exchange}.{suffix}",
            dead_letter_queue=f"{base.dead_letter_queue}.{suffix}",
            partitions=partitions,
        )

    def partition_of(self, owner: str) -> int:
        """The partition of an owner: crc32 of its partition key, stable across processes."""
        return zlib.crc32(partition_key(owner).encode()) % self.partitions

    def routing_key(self, partition: int, owners: Sequence[str]) -> str:
        """`p<k>.<the first owner the message is for>`."""
        return f"p{partition}.{owners[0]}"

    def by_partition(self, owners: Sequence[str]) -> dict[int, tuple[str, ...]]:
        """The owners an event goes to, grouped by partition (one message each)."""
        found: dict[int, list[str]] = {}
        for owner in owners:
            found.setdefault(self.partition_of(owner), []).append(owner)
        return {k: tuple(group) for k, group in found.items()}

    def queue_name(self, partition: int) -> str:
        """The queue of partition `partition`: `<prefix>.p<k>`."""
        return f"{self.queue_prefix}.p{partition}"

    def all_partitions(self) -> range:
        """Every partition number, 0 to partitions - 1."""
        return range(self.partitions)


def is_amqp(connection: Connection) -> bool:
    """True for RabbitMQ (py-amqp); False for the virtual transports (memory://, redis://)."""
    return connection.transport.driver_type == "amqp"


def events_exchange(topology: Topology) -> Exchange:
    """The durable topic exchange the relay publishes to."""
    return Exchange(topology.exchange, type="topic", durable=True)


def partition_queues(
    topology: Topology, *, amqp: bool, partitions: Iterable[int] | None = None
) -> list[Queue]:
    """The durable queue of each partition, bound to `p<k>.#` on the events exchange."""
    exchange = events_exchange(topology)
    chosen = topology.all_partitions() if partitions is None else partitions
    return [
        Queue(
            topology.queue_name(k),
            exchange=exchange,
            routing_key=f"p{k}.#",
            durable=True,
            queue_arguments=_queue_arguments(topology) if amqp else None,
        )
        for k in chosen
    ]


def _queue_arguments(topology: Topology) -> dict[str, Any]:
    # Quorum queues replicate and survive broker restarts; a single active consumer per
    # queue keeps each partition in order even with several projector processes running.
    # The virtual transports know none of these arguments, so they get none.
    return {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-dead-letter-exchange": topology.dead_letter_exchange,
        "x-delivery-limit": DELIVERY_LIMIT,
    }


def dead_letter_queue(topology: Topology) -> Queue:
    """The queue collecting what RabbitMQ dead-letters (rejected or over the delivery limit)."""
    exchange = Exchange(topology.dead_letter_exchange, type="fanout", durable=True)
    return Queue(
        topology.dead_letter_queue,
        exchange=exchange,
        routing_key="",
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def declare(channel: Any, topology: Topology, *, amqp: bool) -> None:
    """Declare the exchange, every partition queue and (on RabbitMQ) the dead-letter path.

    The relay declares the queues too: a topic exchange drops what no queue is bound to,
    so they must exist before the first event is published, not when a consumer starts.
    """
    events_exchange(topology).declare(channel=channel)
    if amqp:
        dead_letter_queue(topology).declare(channel=channel)
    for queue in partition_queues(topology, amqp=amqp):
        queue.declare(channel=channel)


def delete(connection: Connection, topology: Topology) -> None:
    """Remove every object `declare` made (tests and benchmarks clean up after themselves)."""
    amqp = is_amqp(connection)
    channel: Any = connection.channel()
    try:
        for queue in partition_queues(topology, amqp=amqp):
            queue(channel).delete()
        if amqp:
            dead = dead_letter_queue(topology)
            dead(channel).delete()
            Exchange(topology.dead_letter_exchange)(channel).delete()
        events_exchange(topology)(channel).delete()
    finally:
        channel.close()
