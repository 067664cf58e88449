"""A StateView over one generation in Redis, cached for the length of a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projector.fold.projection import Slot
from projector.fold.state import State, decode_state, split_stored
from projector.writer.scripts import lua_script, run_scripts
from shared.readmodel import keys
from shared.readmodel.connection import is_cluster
from shared.readmodel.owners import owner_id

READ_STATES = lua_script("read_states.lua")


class RedisView:
    """Reads the states owners hold, once per batch, as they were at its start: many at once
    with one script (one per slot on a Redis Cluster), not a command each."""

    def __init__(self, redis: Any, generation: str, *, reads: Any | None = None) -> None:
        self._redis = redis
        self._generation = generation
        self._reads = reads or redis.register_script(READ_STATES)
        self._cluster = is_cluster(redis)
        self._states: dict[Slot, tuple[int, State | None]] = {}
        self._held: set[Slot] = set()
        self._sets: dict[str, set[str]] = {}

    def _key(self, slot: Slot) -> str:
        owner, stream = slot
        return keys.full_key(self._generation, keys.stream_state(owner_id(owner), stream))

    def prefetch(self, slots: Iterable[Slot]) -> None:
        """Load many states in one round trip."""
        missing = [slot for slot in dict.fromkeys(slots) if slot not in self._states]
        if not missing:
            return
        prefix = keys.full_key(self._generation, "")
        groups: dict[int, list[Slot]] = {}
        for slot in missing:
            where = self._redis.keyslot(self._key(slot)) if self._cluster else 0
            groups.setdefault(where, []).append(slot)
        fields = " ".join(keys.STATE_FIELDS)
        calls = [
            (
                self._reads,
                self._key(found[0]),
                [prefix, fields, *(part for slot in found for part in self._reading(slot))],
            )
            for found in groups.values()
        ]
        width = len(keys.STATE_FIELDS) + 1
        for found, answer in zip(groups.values(), run_scripts(self._redis, calls), strict=True):
            for i, slot in enumerate(found):
                self._remember(slot, answer[width * i : width * (i + 1)])

    def _reading(self, slot: Slot) -> tuple[str, str, str]:
        """What read_states.lua reads for a slot: its state key, and its row's hash and field."""
        owner, stream = slot
        row_key, row_field = keys.app_row(owner_id(owner), stream) or ("", "")
        return keys.stream_state(owner_id(owner), stream), row_key, row_field

    def state(self, slot: Slot) -> tuple[int, State | None]:
        cached = self._states.get(slot)
        if cached is None:
            values = self._redis.hmget(self._key(slot), *keys.STATE_FIELDS)
            row = keys.app_row(owner_id(slot[0]), slot[1])
            found = None if row is None else self._redis.hget(keys.full_key(self._generation, row[0]), row[1])
            cached = self._remember(slot, [*values, found])
        return cached

    def holds(self, slot: Slot) -> bool:
        self.state(slot)
        return slot in self._held

    def prefetch_members(self, set_keys: Iterable[str]) -> None:
        """Load many sorted sets in one round trip."""
        missing = [key for key in dict.fromkeys(set_keys) if key not in self._sets]
        if not missing:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in missing:
            pipe.zrange(keys.full_key(self._generation, key), 0, -1)
        for key, members in zip(missing, pipe.execute(), strict=True):
            self._sets[key] = {m.decode() for m in members}

    def members(self, key: str) -> set[str]:
        self.prefetch_members([key])
        return set(self._sets[key])

    def _remember(self, slot: Slot, values: list[bytes | None]) -> tuple[int, State | None]:
        """A state from its hash's `keys.STATE_FIELDS`, in that order, then its row."""
        fields: dict[str, bytes | None] = dict(zip((*keys.STATE_FIELDS, "row"), values, strict=True))
        stored = fields["v"]
        if stored is None:
            found: tuple[int, State | None] = (0, None)
        else:
            self._held.add(slot)
            version, raw = split_stored(stored)
            found = (version, decode_state(*slot, raw, fields))
        self._states[slot] = found
        return found
