"""A StateView over one generation in Redis, cached for the length of a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projector.fold.projection import Slot
from projector.fold.state import State, decode_state, state_kind
from shared.readmodel import keys
from shared.readmodel.owners import owner_id


class RedisView:
    """Reads the states owners hold, once per batch, as they were at its start."""

    def __init__(self, redis: Any, generation: str) -> None:
        self._redis = redis
        self._generation = generation
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
        pipe = self._redis.pipeline(transaction=False)
        for slot in missing:
            pipe.hmget(self._key(slot), "v", "s")
        for slot, (version, raw) in zip(missing, pipe.execute(), strict=True):
            self._remember(slot, version, raw)

    def state(self, slot: Slot) -> tuple[int, State | None]:
        cached = self._states.get(slot)
        if cached is None:
            version, raw = self._redis.hmget(self._key(slot), "v", "s")
            cached = self._remember(slot, version, raw)
        return cached

    def holds(self, slot: Slot) -> bool:
        self.state(slot)
        return slot in self._held

    def members(self, key: str) -> set[str]:
        cached = self._sets.get(key)
        if cached is None:
            members = self._redis.zrange(keys.full_key(self._generation, key), 0, -1)
            cached = self._sets[key] = {m.decode() for m in members}
        return set(cached)

    def _remember(self, slot: Slot, version: bytes | None, raw: bytes | None) -> tuple[int, State | None]:
        if version is None:
            found: tuple[int, State | None] = (0, None)
        else:
            self._held.add(slot)
            found = (int(version), decode_state(state_kind(*slot), raw))
        self._states[slot] = found
        return found
