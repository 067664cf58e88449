"""The projector on a real three-master Redis Cluster writes exactly what the events mean.

The property tests of tests/unit/test_projection.py run here again: their `fresh` is this
module's cluster, emptied for every example, so every batch crosses slots.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from redis.cluster import RedisCluster

from projector.generations import ensure_live_generation
from projector.writer import RedisProjector
from shared.events import StoredEvent
from shared.readmodel import keys
from tests.fixtures.readmodel import EventLog
from tests.support.histories import random_history
from tests.support.partitions import apply_deliveries, by_partition
from tests.unit.test_projection import (
    assert_exact,
    test_a_late_event_fills_its_gap_from_the_store,
    test_a_rename_and_an_app_its_account_creates_meanwhile_meet_right,
    test_an_invalid_event_blocks_only_its_own_stream,
    test_an_unknown_type_is_skipped_and_counted_but_advances_its_stream,
    test_any_order_duplicates_and_batch_split_equal_both_references,
    test_in_order_delivery_equals_both_references,
    test_one_writer_per_partition_in_any_interleaving_equals_both_references,
    test_redelivering_everything_changes_nothing,
)

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_late_event_fills_its_gap_from_the_store",
    "test_a_rename_and_an_app_its_account_creates_meanwhile_meet_right",
    "test_an_invalid_event_blocks_only_its_own_stream",
    "test_an_unknown_type_is_skipped_and_counted_but_advances_its_stream",
    "test_any_order_duplicates_and_batch_split_equal_both_references",
    "test_in_order_delivery_equals_both_references",
    "test_one_writer_per_partition_in_any_interleaving_equals_both_references",
    "test_redelivering_everything_changes_nothing",
]


@pytest.fixture
def fresh(redis_cluster: Any) -> Callable[[], Any]:
    """The cluster, emptied on every call (on every master)."""

    def emptied() -> Any:
        redis_cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
        return redis_cluster

    return emptied


def test_an_owners_keys_share_its_slot_and_the_data_spreads(redis_cluster: Any) -> None:
    """Every key of an owner carries the owner's tag (one slot: one script writes them all,
    versions included); the others are the id-found keys and `{meta}`. And the data lands
    on all three masters."""
    log = EventLog()
    stored = log.record(random_history(random.Random(11), steps=120))
    generation, _ = ensure_live_generation(redis_cluster)
    RedisProjector(redis_cluster, log).apply(stored)
    prefix = keys.full_key(generation, "")
    names = [raw.decode()[len(prefix) :] for raw in redis_cluster.scan_iter(match=f"{prefix}*", count=1000)]
    untagged = [name for name in names if keys.owner_tag(name) is None]
    assert untagged
    assert all(name.startswith(("tok:{", "app:{", "{meta}")) for name in untagged)
    owners = {owner.partition(":")[2] for stored_event in stored if (owner := stored_event.owner)}
    assert {keys.owner_tag(name) for name in names} - {None} <= owners
    nodes = {redis_cluster.get_node_from_key(prefix + name).name for name in names}
    assert len(nodes) == 3


def test_two_partitions_writers_at_once_equal_both_references(redis_cluster: Any) -> None:
    """Two projectors on disjoint partitions, writing at the same moment: no key is shared,
    so nothing waits and nothing conflicts."""
    log = EventLog()
    stored = log.record(random_history(random.Random(5), steps=200))
    ensure_live_generation(redis_cluster)
    queues = by_partition(stored, log, 2)
    failures: list[BaseException] = []

    def run(deliveries: list[tuple[StoredEvent, tuple[str, ...]]]) -> None:
        try:
            projector = RedisProjector(redis_cluster, log)
            for start in range(0, len(deliveries), 7):
                assert not apply_deliveries(projector, deliveries[start : start + 7]).poison
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    _together(run, list(queues.values()))
    assert failures == []
    assert_exact(redis_cluster, stored)


def test_two_writers_of_the_same_owners_settle_on_the_same_read_model(redis_cluster: Any) -> None:
    """A standby taking over while the old writer still runs (or a rebuild catching up after
    its flip) applies the same events: the owners' gates keep them from interleaving."""
    log = EventLog()
    stored = log.record(random_history(random.Random(8), steps=150))
    ensure_live_generation(redis_cluster)
    failures: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            rng = random.Random(seed)
            projector = RedisProjector(redis_cluster, log)
            start = 0
            while start < len(stored):
                size = rng.randint(1, 15)
                assert not projector.apply(stored[start : start + size]).poison
                start += size
        except BaseException as exc:
            failures.append(exc)

    _together(run, [1, 2])
    assert failures == []
    assert_exact(redis_cluster, stored)


def _together(run: Callable[[Any], None], arguments: list[Any]) -> None:
    """`run` once per argument, all at the same time, each in a thread of its own."""
    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
