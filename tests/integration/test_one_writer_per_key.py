"""No key of the read model is written by two partitions: each by its owner's partition only.

One writer per partition applies, batch by batch in a random interleaving, what the relay
sends its partition; Redis itself reports every key each batch wrote (keyspace
notifications, on a private redis-server). A key's owner comes from the layout: the hash
tag of an owner's keys (keys.owner_tag); a token's is its session's owner, an app locator's
its app's. The watermark is the one key every writer raises (to a maximum).
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from projector.broker.topology import Topology
from projector.fold.addressing import addressees
from projector.generations import ensure_live_generation
from projector.writer import RedisProjector
from shared.readmodel import keys
from shared.readmodel.owners import owner_id
from tests.fixtures.readmodel import EventLog
from tests.fixtures.redis_server import RedisServer
from tests.support.histories import random_history
from tests.support.partitions import apply_deliveries, by_partition

pytestmark = pytest.mark.integration

PARTITIONS = 3
MARK = "one-writer-test:batch-done"


def test_every_key_is_written_by_its_owners_partition_alone(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.config_set("notify-keyspace-events", "EA")  # every write, by key, on this private server
    watcher = client.pubsub(ignore_subscribe_messages=True)
    watcher.psubscribe("__keyevent@0__:*")
    log = EventLog()
    stored = log.record(random_history(random.Random(17), steps=400))
    generation, _ = ensure_live_generation(client)
    prefix = keys.full_key(generation, "")
    topology = Topology(partitions=PARTITIONS)
    owners = _owners_by_id(stored, log)
    rng = random.Random(3)
    queues = by_partition(stored, log, PARTITIONS)
    writers = {k: RedisProjector(client, log) for k in queues}
    written: dict[str, set[int]] = {}
    while any(queues.values()):
        k = rng.choice([k for k, found in queues.items() if found])
        size = rng.randint(1, 25)
        deliveries, queues[k] = queues[k][:size], queues[k][size:]
        assert not apply_deliveries(writers[k], deliveries).poison
        for key in _keys_written(watcher, client):
            if key.startswith(prefix):
                written.setdefault(key[len(prefix) :], set()).add(k)

    assert len(written) > 100
    data = {key: found for key, found in written.items() if key != keys.WATERMARK}
    shared = {key: sorted(found) for key, found in data.items() if len(found) > 1}
    assert shared == {}
    misplaced = {
        key: (sorted(found), owner)
        for key, found in data.items()
        if found != {topology.partition_of(owner := _owner_of(key, owners, stored))}
    }
    assert misplaced == {}
    watcher.close()


def _keys_written(watcher: Any, client: Any) -> list[str]:
    """The keys written since the last call: every notification up to this one's mark."""
    client.set(MARK, "1")
    found: list[str] = []
    deadline = time.monotonic() + 10
    while True:
        message = watcher.get_message(timeout=1)
        if message is None:  # nothing yet, or the subscription's own confirmation
            assert time.monotonic() < deadline, "a keyspace notification never came"
            continue
        key = message["data"].decode()
        if key == MARK:
            return found
        found.append(key)


def _owners_by_id(stored: list[Any], log: EventLog) -> dict[str, str]:
    """Every owner of the history, by the id its keys are tagged with."""
    found: dict[str, str] = {}
    for owners in addressees(stored, log):
        for owner in owners:
            found[owner_id(owner)] = owner
    return found


def _owner_of(key: str, owners: dict[str, str], stored: list[Any]) -> str:
    """The owner the layout gives a key: its tag's, or its session's or app's (id-found keys)."""
    tag = keys.owner_tag(key)
    if tag is not None:
        return owners[tag]
    identifier = key.rsplit(":", 1)[1]
    for s in stored:
        event = s.event
        issued = event.type == "session.issued" and event.data["token_hash"] == identifier
        if key.startswith("tok:") and issued:
            return s.owner
        if key.startswith("app:") and event.stream == f"app:{identifier}":
            return s.owner
    raise AssertionError(f"no owner for {key}")
