"""Rebuilding into a new generation: the live one serves until the flip, resumable, exact."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from projector.fold.redis_dump import dump_generation
from projector.generations import live_generation
from projector.replay import Progress, Rebuild, RebuildInterrupted
from projector.store import Cursor, EventStore
from projector.verify import verify
from projector.writer import RedisProjector
from shared.readmodel import keys
from tests.support.histories import random_history


def _rebuild(store: EventStore, redis: Any, **kwargs: Any) -> Rebuild:
    return Rebuild(store, redis, cursor_factory=Cursor, batch_size=50, **kwargs)


def _seed(store: EventStore, seed: int = 1, steps: int = 150) -> None:
    store.append(random_history(random.Random(seed), steps=steps))


def test_a_first_rebuild_creates_and_flips_to_a_generation(event_store: EventStore, fake_redis: Any) -> None:
    _seed(event_store)
    summary = _rebuild(event_store, fake_redis).run()
    assert live_generation(fake_redis) == summary.generation
    assert summary.events == event_store.count()
    assert summary.previous is None
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []
    assert fake_redis.get(keys.REPLAY_POINTER) is None


def test_a_rebuild_replaces_the_live_generation_and_deletes_the_old_one(
    event_store: EventStore, fake_redis: Any
) -> None:
    _seed(event_store)
    first = _rebuild(event_store, fake_redis).run()
    _seed(event_store, seed=2, steps=60)  # new streams appended since
    second = _rebuild(event_store, fake_redis).run()
    assert second.previous == first.generation
    assert live_generation(fake_redis) == second.generation
    assert list(fake_redis.scan_iter(match=keys.generation_pattern(first.generation))) == []
    assert verify(event_store.iter_all(), fake_redis, second.generation) == []


class _Interrupted(Exception):
    pass


def test_an_interrupted_rebuild_leaves_the_live_generation_untouched_and_resumes(
    event_store: EventStore, fake_redis: Any
) -> None:
    _seed(event_store, steps=300)
    live = _rebuild(event_store, fake_redis).run().generation
    before = dump_generation(fake_redis, live)
    _seed(event_store, seed=5, steps=100)
    seen: list[Progress] = []

    def crash_after_two_batches(progress: Progress) -> None:
        seen.append(progress)
        if len(seen) == 2:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        _rebuild(event_store, fake_redis, on_progress=crash_after_two_batches).run()
    assert live_generation(fake_redis) == live
    assert dump_generation(fake_redis, live) == before
    summary = _rebuild(event_store, fake_redis).run()
    assert summary.resumed
    assert summary.generation == seen[0].generation
    assert summary.events == event_store.count()
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []


def test_a_rebuild_asked_to_stop_ends_between_batches_and_the_next_resumes(
    event_store: EventStore, fake_redis: Any
) -> None:
    _seed(event_store, steps=300)
    live = _rebuild(event_store, fake_redis).run().generation
    before = dump_generation(fake_redis, live)
    stop = threading.Event()
    seen: list[Progress] = []

    def stop_after_two_batches(progress: Progress) -> None:
        seen.append(progress)
        if len(seen) == 2:
            stop.set()  # SIGTERM, as the process's signal handler sets it

    with pytest.raises(RebuildInterrupted):
        _rebuild(event_store, fake_redis, on_progress=stop_after_two_batches, stop=stop).run(restart=True)
    assert len(seen) == 2
    assert live_generation(fake_redis) == live
    assert dump_generation(fake_redis, live) == before
    summary = _rebuild(event_store, fake_redis).run()
    assert summary.resumed
    assert summary.generation == seen[0].generation
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []


def test_an_old_generation_a_stop_left_behind_is_deleted_by_the_next_rebuild(
    event_store: EventStore, fake_redis: Any
) -> None:
    _seed(event_store)
    first = _rebuild(event_store, fake_redis).run().generation
    stop = threading.Event()
    # The stop arrives after the flip, as the old generation is about to be deleted.
    second = _rebuild(event_store, fake_redis, stop=stop, sleep=lambda _seconds: stop.set()).run()
    assert live_generation(fake_redis) == second.generation
    assert fake_redis.smembers(keys.RETIRED) == {first.encode()}
    assert list(fake_redis.scan_iter(match=keys.generation_pattern(first)))

    third = _rebuild(event_store, fake_redis).run()
    assert fake_redis.smembers(keys.RETIRED) == set()
    assert list(fake_redis.scan_iter(match=keys.generation_pattern(first))) == []
    assert list(fake_redis.scan_iter(match=keys.generation_pattern(second.generation))) == []
    assert verify(event_store.iter_all(), fake_redis, third.generation) == []


def test_restart_discards_the_unfinished_generation(event_store: EventStore, fake_redis: Any) -> None:
    _seed(event_store, steps=300)

    def crash(_: Progress) -> None:
        raise _Interrupted

    with pytest.raises(_Interrupted):
        _rebuild(event_store, fake_redis, on_progress=crash).run()
    unfinished = fake_redis.get(keys.REPLAY_POINTER)
    assert unfinished is not None
    summary = _rebuild(event_store, fake_redis).run(restart=True)
    assert not summary.resumed
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []
    assert len({k.split(b":")[1] for k in fake_redis.scan_iter(match="rm:g*")}) == 1


def test_the_flip_waits_until_the_new_generation_is_not_behind_the_live_one(
    event_store: EventStore, fake_redis: Any
) -> None:
    _seed(event_store)
    live = _rebuild(event_store, fake_redis).run().generation
    _seed(event_store, seed=9, steps=40)
    # The live projector has applied the newest events already.
    RedisProjector(fake_redis, event_store).apply(list(event_store.iter_all()))
    live_watermark = int(fake_redis.get(keys.full_key(live, keys.WATERMARK)))
    summary = _rebuild(event_store, fake_redis).run()
    new_watermark = int(fake_redis.get(keys.full_key(summary.generation, keys.WATERMARK)))
    assert new_watermark >= live_watermark
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []


def test_replaying_one_workspace_repairs_it_and_leaves_the_others_alone(
    event_store: EventStore, fake_redis: Any
) -> None:
    from projector.workspace_replay import replay_workspace

    _seed(event_store, steps=200)
    live = _rebuild(event_store, fake_redis).run().generation
    workspaces = _workspace_ids(event_store)
    target, other = workspaces[0], workspaces[1]
    damaged = [
        keys.full_key(live, keys.app_index(target)),
        keys.full_key(live, keys.workspace(target)),
        keys.full_key(live, keys.app_index(other)),
    ]
    fake_redis.delete(*damaged)
    fake_redis.zadd(keys.full_key(live, keys.mode_index(target, "chat")), {"stale-app": 1.0})
    fake_redis.hset(keys.full_key(live, keys.workspace_members(target)), "stale-member", "owner")
    assert verify(event_store.iter_all(), fake_redis, live, workspace_id=target) != []

    repair = replay_workspace(event_store, fake_redis, target)

    assert repair.generation == live
    assert repair.operations > 0
    assert verify(event_store.iter_all(), fake_redis, live, workspace_id=target) == []
    assert verify(event_store.iter_all(), fake_redis, live, workspace_id=other) != []
    replay_workspace(event_store, fake_redis, other)
    assert verify(event_store.iter_all(), fake_redis, live) == []


def test_a_workspaces_members_own_their_memberships_of_it(event_store: EventStore, fake_redis: Any) -> None:
    """A member's entry for a workspace is the member's account's key: checking or rebuilding
    the workspace leaves it alone, a whole rebuild repairs it."""
    from projector.workspace_replay import replay_workspace

    _seed(event_store, steps=120)
    live = _rebuild(event_store, fake_redis).run().generation
    target = _workspace_ids(event_store)[0]
    member = fake_redis.hkeys(keys.full_key(live, keys.workspace_members(target)))[0].decode()
    entry = keys.full_key(live, keys.account_workspaces(member))
    fake_redis.hset(entry, target, b'{"role":"wrong","jpos":1}')

    assert verify(event_store.iter_all(), fake_redis, live, workspace_id=target) == []
    replay_workspace(event_store, fake_redis, target)
    assert fake_redis.hget(entry, target) == b'{"role":"wrong","jpos":1}'
    assert [d.key for d in verify(event_store.iter_all(), fake_redis, live)] == [
        f"{keys.account_workspaces(member)} {target}"
    ]
    summary = _rebuild(event_store, fake_redis).run()
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []


def _workspace_ids(store: EventStore) -> list[str]:
    return sorted(o.split(":", 1)[1] for o in store.owners_after(None, 1000) if o.startswith("workspace:"))


@pytest.mark.parametrize("pointer", keys.LEGACY_POINTERS)
def test_a_rebuild_retires_a_read_model_of_an_earlier_key_layout(
    event_store: EventStore, fake_redis: Any, pointer: str
) -> None:
    # The first layout's pointer, the second's, and the second's unfinished rebuild.
    fake_redis.set(pointer, '{"generation": "gold", "phase": "bulk"}' if "replay" in pointer else "gold")
    fake_redis.hset("rm:gold:app:x", "ws", "w")
    fake_redis.set("rm:gold:wm", 5)
    _seed(event_store, steps=20)
    summary = _rebuild(event_store, fake_redis).run()
    assert fake_redis.get(pointer) is None
    assert list(fake_redis.scan_iter(match="rm:gold:*")) == []
    assert verify(event_store.iter_all(), fake_redis, summary.generation) == []
