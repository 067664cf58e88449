"""The projector on a real three-master Redis Cluster writes exactly the oracle's read model."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from projector.fold.batch import BatchChange
from projector.fold.memory import MemoryReadModel
from projector.fold.redis_dump import dump_generation
from projector.generations import ensure_live_generation
from projector.writer import RedisProjector
from projector.writer.cluster_apply import ClusterApplier, ClusterOutcome, hash_tag
from shared.events import StoredEvent
from shared.readmodel import keys
from tests.fixtures.readmodel import EventLog
from tests.support.histories import random_history

pytestmark = pytest.mark.integration


def _oracle(stored: list[StoredEvent]) -> dict[str, object]:
    model = MemoryReadModel()
    model.fold_all(stored)
    return model.dump()


def _live_dump(redis: Any) -> dict[str, object]:
    return dump_generation(redis, redis.get(keys.LIVE_POINTER).decode())


def test_hash_tags_follow_redis_cluster_rules() -> None:
    assert hash_tag("rm:g1:ws:{w1}:idx") == "w1"
    assert hash_tag("rm:g1:tok:abc") == "rm:g1:tok:abc"
    assert hash_tag("a{}b{c}") == "a{}b{c}"  # an empty tag does not count: the whole key
    assert hash_tag("x{y}{z}") == "y"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_in_any_split_with_duplicates_equal_the_oracle(redis_cluster: Any, seed: int) -> None:
    rng = random.Random(seed)
    log = EventLog()
    stored = log.record(random_history(rng, steps=150))
    ensure_live_generation(redis_cluster)
    projector = RedisProjector(redis_cluster, log)
    delivery = stored + rng.sample(stored, len(stored) // 4)  # duplicates, redelivered late
    rng.shuffle(delivery)
    start = 0
    while start < len(delivery):
        size = rng.randint(1, 40)
        result = projector.apply(delivery[start : start + size])
        assert not result.poison
        start += size
    assert _live_dump(redis_cluster) == _oracle(stored)


def test_every_key_but_a_stream_state_has_a_slot_group_and_the_data_spreads(redis_cluster: Any) -> None:
    """Keys a script reads together must carry the same hash tag; only stream states (read
    one at a time) may hash whole. And the data lands on all three masters."""
    log = EventLog()
    stored = log.record(random_history(random.Random(11), steps=120))
    generation, _ = ensure_live_generation(redis_cluster)
    RedisProjector(redis_cluster, log).apply(stored)
    prefix = keys.full_key(generation, "")
    untagged = [
        name
        for raw in redis_cluster.scan_iter(match=f"{prefix}*", count=1000)
        if hash_tag(name := raw.decode()) == name and not name.startswith(prefix + keys.stream_state(""))
    ]
    assert untagged == []
    tags = {hash_tag(raw.decode()) for raw in redis_cluster.scan_iter(match=f"{prefix}*", count=1000)}
    assert any(tag == "meta" for tag in tags)
    nodes = {redis_cluster.get_node_from_key(raw).name for raw in redis_cluster.scan_iter(match=f"{prefix}*")}
    assert len(nodes) == 3


def test_two_projectors_racing_on_shared_streams_still_equal_the_oracle(redis_cluster: Any) -> None:
    """Account and app events of one history applied by two writers at once, as two
    partitions' projectors do: a rename and an app change meet in the app's slot."""
    rng = random.Random(5)
    log = EventLog()
    stored = log.record(random_history(rng, steps=200))
    ensure_live_generation(redis_cluster)
    halves = ([s for s in stored if s.position % 2], [s for s in stored if not s.position % 2])
    failures: list[BaseException] = []

    def run(events: list[StoredEvent]) -> None:
        try:
            projector = RedisProjector(redis_cluster, log)
            for start in range(0, len(events), 7):
                assert not projector.apply(events[start : start + 7]).poison
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert _live_dump(redis_cluster) == _oracle(stored)


class _Crash(Exception):
    pass


class _CrashAfterRecords(ClusterApplier):
    """Dies as a killed projector would: the slots' records written, no state moved yet."""

    def _run(self, calls: list[tuple[str, str, list[Any]]]) -> list[Any]:
        answers = super()._run(calls)
        if calls and calls[0][0] == "records":
            raise _Crash
        return answers


class _Recording(ClusterApplier):
    def __init__(self, redis: Any) -> None:
        super().__init__(redis)
        self.outcomes: list[ClusterOutcome] = []

    def apply(self, generation: str, change: BatchChange) -> ClusterOutcome:
        outcome = super().apply(generation, change)
        self.outcomes.append(outcome)
        return outcome


@pytest.mark.parametrize("seed", [4, 8])
def test_a_batch_cut_short_between_slots_and_redelivered_with_more_equals_the_oracle(
    redis_cluster: Any, seed: int
) -> None:
    log = EventLog()
    stored = log.record(random_history(random.Random(seed), steps=150))
    ensure_live_generation(redis_cluster)
    half = len(stored) // 2
    RedisProjector(redis_cluster, log).apply(stored[: half // 2])
    with pytest.raises(_Crash):
        RedisProjector(redis_cluster, log, cluster_applier=_CrashAfterRecords(redis_cluster)).apply(
            stored[half // 2 : half]
        )
    recording = _Recording(redis_cluster)
    result = RedisProjector(redis_cluster, log, cluster_applier=recording).apply(stored[half // 2 :])
    assert not result.poison
    # The crashed batch's intents made the next writer redo exactly its step first.
    assert recording.outcomes[0].status == "ok"
    assert _live_dump(redis_cluster) == _oracle(stored)


class _BeforeApply(ClusterApplier):
    """Runs `hook` once, between this writer's fold and its apply."""

    def __init__(self, redis: Any, hook: Any) -> None:
        super().__init__(redis)
        self._hook = hook

    def apply(self, generation: str, change: BatchChange) -> ClusterOutcome:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return super().apply(generation, change)


@pytest.mark.parametrize("first", ["rename", "creation"])
def test_a_rename_and_an_app_its_account_creates_meanwhile_meet_right(redis_cluster: Any, first: str) -> None:
    """Different partitions' writers: whichever lands between the other's fold and apply,
    the new app ends with the new author name."""
    from tests.support.races import rename_and_creation

    before, rename, creation = rename_and_creation()
    log = EventLog()
    ensure_live_generation(redis_cluster)
    RedisProjector(redis_cluster, log).apply(log.record(before))
    renamed, created = log.record([rename, creation])
    inner, outer = (renamed, created) if first == "rename" else (created, renamed)
    racing = _BeforeApply(redis_cluster, lambda: RedisProjector(redis_cluster, log).apply([inner]))
    assert not RedisProjector(redis_cluster, log, cluster_applier=racing).apply([outer]).poison
    assert _live_dump(redis_cluster) == _oracle(log.events)
