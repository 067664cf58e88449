"""Rebuild, verify and the in-place workspace repair on a real three-master Redis Cluster.

The one-Redis tests of tests/unit/test_replay.py run here again: their `fake_redis` is this
module's cluster client, so every rebuild, flip, deletion and repair crosses slots.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from projector.replay import Rebuild
from projector.store import Cursor, EventStore
from query_api.operations import SqlStoreProbe
from query_api.operations.metrics import new_api_metrics
from query_api.operations.readiness import Readiness
from query_api.operations.status import OpsStatus
from shared.readmodel import keys
from tests.support.histories import random_history
from tests.unit.test_bulk_build import (
    test_a_rebuild_stopped_at_every_checkpoint_still_writes_what_the_live_writer_writes,
    test_a_rebuild_takes_invalid_and_ownerless_rows_as_the_live_writer_does,
    test_a_rebuild_writes_what_the_live_writer_writes,
)
from tests.unit.test_replay import (
    test_a_first_rebuild_creates_and_flips_to_a_generation,
    test_a_rebuild_replaces_the_live_generation_and_deletes_the_old_one,
    test_a_workspaces_members_own_their_memberships_of_it,
    test_an_interrupted_rebuild_leaves_the_live_generation_untouched_and_resumes,
    test_replaying_one_workspace_repairs_it_and_leaves_the_others_alone,
    test_restart_discards_the_unfinished_generation,
    test_the_flip_waits_until_the_new_generation_is_not_behind_the_live_one,
)

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_first_rebuild_creates_and_flips_to_a_generation",
    "test_a_rebuild_replaces_the_live_generation_and_deletes_the_old_one",
    "test_a_rebuild_stopped_at_every_checkpoint_still_writes_what_the_live_writer_writes",
    "test_a_rebuild_takes_invalid_and_ownerless_rows_as_the_live_writer_does",
    "test_a_rebuild_writes_what_the_live_writer_writes",
    "test_a_workspaces_members_own_their_memberships_of_it",
    "test_an_interrupted_rebuild_leaves_the_live_generation_untouched_and_resumes",
    "test_replaying_one_workspace_repairs_it_and_leaves_the_others_alone",
    "test_restart_discards_the_unfinished_generation",
    "test_the_flip_waits_until_the_new_generation_is_not_behind_the_live_one",
]


@pytest.fixture
def fake_redis(redis_cluster: Any) -> Any:
    """The cluster, under the name the shared tests ask for."""
    return redis_cluster


@pytest.fixture
def any_redis(redis_cluster: Any) -> Any:
    """The cluster, under the name the bulk rebuild's tests ask for."""
    return redis_cluster


def test_the_status_page_finds_every_workspace_on_every_master(
    event_store: EventStore, redis_cluster: Any
) -> None:

    event_store.append(random_history(random.Random(3), steps=300))
    generation = Rebuild(event_store, redis_cluster, cursor_factory=Cursor).run().generation
    expected = {}
    for raw in redis_cluster.scan_iter(match=keys.full_key(generation, keys.app_index("*"))):
        name = raw.decode()
        expected[name.split("{", 1)[1].split("}", 1)[0]] = redis_cluster.zcard(name)
    assert len(expected) > 1
    metrics = new_api_metrics()
    probe = SqlStoreProbe(event_store.engine)
    readiness = Readiness(redis_cluster, probe, metrics, max_lag_seconds=30, stall_seconds=30)

    whole = OpsStatus(redis_cluster, probe, readiness, metrics, top_workspaces=100).snapshot()
    assert whole["workspaces_complete"] is True
    assert {w["workspace_id"]: w["apps"] for w in whole["workspaces"]} == expected
    assert whole["read_model"]["watermark"] == event_store.head_position()

    bounded = OpsStatus(redis_cluster, probe, readiness, metrics, scan_budget=1).snapshot()
    assert bounded["workspaces_complete"] is False
