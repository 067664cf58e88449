"""A StateView over one generation in Redis, cached for the length of a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projector.fold.state import AppState, State, decode_state
from shared.readmodel import keys


class RedisView:
    """Reads stream states and fan-out sets once per batch, as they were at its start."""

    def __init__(self, redis: Any, generation: str) -> None:
        self._redis = redis
        self._generation = generation
        self._states: dict[str, tuple[int, State | None]] = {}
        self._pending: dict[str, int] = {}
        self._sets: dict[str, set[str]] = {}

    def _key(self, suffix: str) -> str:
        return keys.full_key(self._generation, suffix)

    def prefetch(self, streams: Iterable[str]) -> None:
        """Load many stream states in one round trip."""
        missing = [s for s in dict.fromkeys(streams) if s not in self._states]
        if not missing:
            return
        pipe = self._redis.pipeline(transaction=False)
        for stream in missing:
            pipe.hmget(self._key(keys.stream_state(stream)), "v", "s", "p")
        for stream, (version, raw, pending) in zip(missing, pipe.execute(), strict=True):
            self._states[stream] = self._decode(stream, version, raw)
            if pending is not None:
                self._pending[stream] = int(pending)

    def prefetch_app_context(self) -> None:
        """Load the accounts and workspaces the cached apps render with, in one round trip."""
        streams: list[str] = []
        for state in [s for _, s in self._states.values()]:
            if isinstance(state, AppState):
                streams.append(f"account:{state.created_by}")
                streams.append(f"workspace:{state.workspace_id}")
        self.prefetch(streams)

    def prefetch_sets(self, set_keys: Iterable[str]) -> None:
        """Load many fan-out sets in one round trip."""
        missing = [k for k in dict.fromkeys(set_keys) if k not in self._sets]
        if not missing:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in missing:
            _read_members(pipe, self._key(key))
        for key, members in zip(missing, pipe.execute(), strict=True):
            self._sets[key] = {m.decode() for m in members}

    def state(self, stream: str) -> tuple[int, State | None]:
        cached = self._states.get(stream)
        if cached is None:
            version, raw = self._redis.hmget(self._key(keys.stream_state(stream)), "v", "s")
            cached = self._states[stream] = self._decode(stream, version, raw)
        return cached

    def pending(self, stream: str) -> int | None:
        """The version a writer on a Redis Cluster set out to take a prefetched stream to and
        did not finish (cluster_apply.py), if any."""
        return self._pending.get(stream)

    def members(self, key: str) -> set[str]:
        cached = self._sets.get(key)
        if cached is None:
            self.prefetch_sets([key])
            cached = self._sets[key]
        return set(cached)

    @staticmethod
    def _decode(stream: str, version: bytes | None, raw: bytes | None) -> tuple[int, State | None]:
        if version is None:
            return (0, None)
        return (int(version), decode_state(stream.split(":", 1)[0], raw))


def _read_members(pipe: Any, key: str) -> None:
    """Queue the read of a fan-out set's members; session sets are sorted (keys.py)."""
    if key.endswith(":sessions"):
        pipe.zrange(key, 0, -1)
    else:
        pipe.smembers(key)
