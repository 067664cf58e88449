"""The projector writes exactly what the events mean, whatever the delivery.

Each property holds against two references: `MemoryProjection` (the projector's own fold
applied in memory: every key, the bookkeeping included) and the independent oracle of
tests/support/oracle.py (what the API answers from, folded without the projector's code).
They run on fakeredis here, on a private database of the real Redis and on a three-master
Redis Cluster (tests/integration/test_cluster_projection.py runs this module there too).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.generations import ensure_live_generation
from projector.writer import RedisProjector
from shared.events import Event, StoredEvent, parse_event
from shared.readmodel import keys
from tests.fixtures.readmodel import EventLog
from tests.fixtures.redis import make_fake_redis
from tests.support.histories import random_history
from tests.support.oracle import expected, served
from tests.support.partitions import apply_deliveries, by_partition

Fresh = Callable[[], Any]  # an emptied Redis client, ready for one example
# Each example empties its Redis itself (`fresh`), so the function-scoped fixture is safe.
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(
    params=["fake", pytest.param("real", marks=pytest.mark.integration)],
)
def fresh(request: pytest.FixtureRequest) -> Iterator[Fresh]:
    """A way to get an emptied Redis: fakeredis, or the real Redis's private database."""
    if request.param == "fake":
        yield make_fake_redis
        return
    client = request.getfixturevalue("real_redis")

    def emptied() -> Any:
        client.flushdb()
        return client

    yield emptied


def _build(fresh: Fresh, events: list[Event]) -> tuple[Any, EventLog, list[StoredEvent]]:
    redis = fresh()
    log = EventLog()
    stored = log.record(events)
    ensure_live_generation(redis)
    return redis, log, stored


def _live_dump(redis: Any) -> dict[str, object]:
    generation = redis.get(keys.LIVE_POINTER).decode()
    return dump_generation(redis, generation)


def assert_exact(redis: Any, stored: list[StoredEvent]) -> None:
    """Redis holds what the projector's fold makes of `stored`, and what the events mean."""
    dump = _live_dump(redis)
    model = MemoryProjection()
    model.fold_all(stored)
    assert dump == model.dump()
    assert served(dump).as_dict() == expected(stored).as_dict()


def test_in_order_delivery_equals_both_references(fresh: Fresh) -> None:
    redis, log, stored = _build(fresh, random_history(random.Random(7), steps=120))
    result = RedisProjector(redis, log).apply(stored)
    assert not result.poison
    assert len(result.applied) == len(stored)
    assert_exact(redis, stored)


@PROPERTY
@given(
    history_seed=st.integers(0, 2**32),
    delivery_seed=st.integers(0, 2**32),
    batch=st.integers(1, 40),
)
def test_any_order_duplicates_and_batch_split_equal_both_references(
    fresh: Fresh, history_seed: int, delivery_seed: int, batch: int
) -> None:
    redis, log, stored = _build(fresh, random_history(random.Random(history_seed), steps=50))
    projector = RedisProjector(redis, log)
    rng = random.Random(delivery_seed)
    delivery = stored + rng.sample(stored, len(stored) // 3)  # duplicates
    rng.shuffle(delivery)  # any order, across and within streams
    for start in range(0, len(delivery), batch):
        result = projector.apply(delivery[start : start + batch])
        assert not result.poison
    assert_exact(redis, stored)


@PROPERTY
@given(
    history_seed=st.integers(0, 2**32),
    delivery_seed=st.integers(0, 2**32),
    partitions=st.integers(2, 4),
)
def test_one_writer_per_partition_in_any_interleaving_equals_both_references(
    fresh: Fresh, history_seed: int, delivery_seed: int, partitions: int
) -> None:
    """Each partition's writer gets only its owners' deliveries, in its queue's order, in
    batches of any size and redelivered; the partitions' batches interleave at random."""
    redis, log, stored = _build(fresh, random_history(random.Random(history_seed), steps=60))
    rng = random.Random(delivery_seed)
    queues = {k: list(found) for k, found in by_partition(stored, log, partitions).items()}
    for found in queues.values():  # a redelivery of some of it, later
        found.extend(rng.sample(found, len(found) // 4))
    writers = {k: RedisProjector(redis, log) for k in queues}
    while any(queues.values()):
        k = rng.choice([k for k, found in queues.items() if found])
        size = rng.randint(1, 12)
        deliveries, queues[k] = queues[k][:size], queues[k][size:]
        assert not apply_deliveries(writers[k], deliveries).poison
    assert_exact(redis, stored)


def test_redelivering_everything_changes_nothing(fresh: Fresh) -> None:
    redis, log, stored = _build(fresh, random_history(random.Random(3), steps=80))
    projector = RedisProjector(redis, log)
    projector.apply(stored)
    before = _live_dump(redis)
    result = projector.apply(stored)
    assert len(result.duplicates) == len(stored)
    assert not result.applied
    assert _live_dump(redis) == before


def test_a_late_event_fills_its_gap_from_the_store(fresh: Fresh) -> None:
    redis, log, stored = _build(fresh, random_history(random.Random(11), steps=40))
    projector = RedisProjector(redis, log)
    last = stored[-1]
    result = projector.apply([last])
    earlier = [s for s in stored if s.event.stream == last.event.stream and s is not last]
    assert result.gap_filled == len(earlier)
    projector.apply(stored)
    assert_exact(redis, stored)


def test_an_invalid_event_blocks_only_its_own_stream(fresh: Fresh) -> None:
    events = random_history(random.Random(5), steps=40)
    victim = next(e for e in events if e.type == "app.created")
    broken = replace(victim, data={**victim.data, "mode": 42})
    events = [broken if e is victim else e for e in events]
    # Written straight into the log: the store would refuse it at append.
    redis, log, stored = _build(fresh, events)
    result = RedisProjector(redis, log).apply(stored)
    poisoned_streams = {p.event.event.stream for p in result.poison}
    assert poisoned_streams == {victim.stream}
    assert "data.mode" in result.poison[0].reason
    healthy = [s for s in stored if s.event.stream != victim.stream]
    assert len(result.applied) == len(healthy)
    assert_exact(redis, stored)


def test_an_unknown_type_is_skipped_and_counted_but_advances_its_stream(fresh: Fresh) -> None:
    events = random_history(random.Random(9), steps=10)
    app_event = next(e for e in events if e.type == "app.created")
    last = max(e.version for e in events if e.stream == app_event.stream)
    future = parse_event(
        {
            **app_event.to_dict(),
            "id": "00000000-0000-4000-8000-000000000001",
            "type": "app.archived",
            "version": last + 1,
            "data": {},
        },
        allow_unknown_type=True,
    )
    redis, log, stored = _build(fresh, [*events, future])
    result = RedisProjector(redis, log).apply(stored)
    assert [s.event.type for s, _ in result.skipped] == ["app.archived"]
    assert not result.poison
    assert_exact(redis, stored)


@pytest.mark.parametrize("first", ["rename", "creation"])
@pytest.mark.parametrize("relay_knew", [False, True])
def test_a_rename_and_an_app_its_account_creates_meanwhile_meet_right(
    fresh: Fresh, first: str, relay_knew: bool
) -> None:
    """The account's partition and the workspace's each apply their part, in either order;
    the rename reached the workspace (`relay_knew`: the workspace already showed the account,
    or the new app was in the store when the relay sent the rename) or not (the workspace
    takes the account up from the store): either way the new app shows the new name."""
    from tests.support.races import rename_and_creation

    before, rename, creation = rename_and_creation(shown_before=relay_knew)
    redis, log, stored = _build(fresh, before)
    RedisProjector(redis, log).apply(stored)
    renamed, created = log.record([rename, creation])
    account, workspace = f"account:{rename.stream_id}", f"workspace:{creation.workspace_id}"
    rename_to = (account, workspace) if relay_knew else (account,)
    account_writer, workspace_writer = RedisProjector(redis, log), RedisProjector(redis, log)
    steps = [
        lambda: account_writer.apply([renamed], {renamed.position: (account,)}),
        lambda: workspace_writer.apply([created], {created.position: (workspace,)}),
    ]
    if relay_knew:  # the rename's copy for the workspace, in the workspace's queue
        steps.append(lambda: workspace_writer.apply([renamed], {renamed.position: rename_to[1:]}))
    for step in steps if first == "rename" else reversed(steps):
        assert not step().poison
    assert_exact(redis, log.events)


def test_an_account_rename_writes_its_own_keys_and_one_field_per_workspace_of_its_apps() -> None:
    """What a rename changes does not grow with the apps the account created: its profile,
    and in each workspace with its apps the one name the rows are completed with."""
    import uuid

    from tests.unit.api_events import History

    history = History()
    account = str(uuid.uuid4())
    workspaces = [str(uuid.uuid4()) for _ in range(2)]
    events = [history.account_created(account, "Ada")]
    for ws in workspaces:
        events += [history.workspace_created(ws, "Ops"), history.member_joined(ws, account, "owner")]
        events += [history.app_created(str(uuid.uuid4()), ws, account, name=f"App {i}") for i in range(30)]
    redis, log, stored = _build(make_fake_redis, events)
    projector = RedisProjector(redis, log)
    projector.apply(stored)
    before = _live_dump(redis)

    projector.apply(log.record([history.account_updated(account, name="Ada Lovelace")]))

    after = _live_dump(redis)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    assert changed == sorted(
        [
            keys.account(account),
            keys.stream_state(account, f"account:{account}"),
            *(keys.app_authors(ws) for ws in workspaces),
            *(keys.stream_state(ws, f"account:{account}") for ws in workspaces),
        ]
    )
    assert all(after[keys.app_authors(ws)] == {account: b'"Ada Lovelace"'} for ws in workspaces)
    assert_exact(redis, log.events)
