"""Deliveries as the relay sends them: each event to the partitions of the owners it goes to,
for tests that run one writer per partition without a broker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projector.broker.topology import Topology
from projector.fold.addressing import addressees
from projector.store.memory import EventIndex
from projector.writer import BatchResult
from shared.events import StoredEvent

Delivery = tuple[StoredEvent, tuple[str, ...]]  # an event, and the owners it was sent to


def by_partition(
    events: Sequence[StoredEvent], log: EventIndex, partitions: int
) -> dict[int, list[Delivery]]:
    """What each partition's queue receives of `events`, in order."""
    topology = Topology(partitions=partitions)
    found: dict[int, list[Delivery]] = {k: [] for k in range(partitions)}
    for stored, owners in zip(events, addressees(events, log), strict=True):
        for partition, to in topology.by_partition(owners).items():
            found[partition].append((stored, to))
    return found


def apply_deliveries(projector: Any, deliveries: Sequence[Delivery]) -> BatchResult:
    """Apply a batch of deliveries as the consumer does: events, and their owners by position."""
    owners: dict[int, list[str]] = {}
    for stored, to in deliveries:
        owners.setdefault(stored.position, []).extend(to)
    return projector.apply([stored for stored, _ in deliveries], owners)
