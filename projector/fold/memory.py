"""The read model in memory: the verification oracle, and the cache a Redis view builds on."""

from __future__ import annotations

from collections.abc import Iterable

from projector.fold.batch import BatchFold
from projector.fold.projection import Duplicate, Gap
from projector.fold.records import Op
from projector.fold.state import State, decode_state
from shared.errors import EventValidationError
from shared.events import StoredEvent
from shared.readmodel import keys


class KeyValues:
    """Hashes, sorted sets and sets, applied to with the same operations Redis receives."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, bytes]] = {}
        self.zsets: dict[str, dict[str, float]] = {}
        self.sets: dict[str, set[str]] = {}

    def apply(self, ops: Iterable[Op]) -> None:
        for op, key, member, value in ops:
            if op == "hset":
                self.hashes.setdefault(key, {})[member] = (
                    value if isinstance(value, bytes) else value.encode()
                )
            elif op == "hdel":
                _discard(self.hashes, key, member)
            elif op == "zadd":
                self.zsets.setdefault(key, {})[member] = float(value)
            elif op == "zrem":
                _discard(self.zsets, key, member)
            elif op == "sadd":
                self.sets.setdefault(key, set()).add(member)
            elif op == "srem":
                members = self.sets.get(key)
                if members is not None:
                    members.discard(member)
                    if not members:
                        del self.sets[key]

    def dump(self) -> dict[str, object]:
        """Every key with its value, in the shape `RedisDump` produces (for comparison)."""
        dumped: dict[str, object] = {}
        dumped.update({k: dict(v) for k, v in self.hashes.items()})
        dumped.update({k: dict(v) for k, v in self.zsets.items()})
        dumped.update({k: set(v) for k, v in self.sets.items()})
        return dumped


def _discard(
    mapping: dict[str, dict[str, bytes]] | dict[str, dict[str, float]], key: str, member: str
) -> None:
    inner = mapping.get(key)
    if inner is not None:
        inner.pop(member, None)
        if not inner:
            del mapping[key]


class MemoryReadModel(KeyValues):
    """A whole read model in memory, folded from the store: what Redis must equal."""

    def __init__(self) -> None:
        super().__init__()
        self._states: dict[str, tuple[int, State | None]] = {}
        self.watermark = 0
        self.skipped: list[tuple[int, str]] = []

    def state(self, stream: str) -> tuple[int, State | None]:
        cached = self._states.get(stream)
        if cached is not None:
            return cached
        fields = self.hashes.get(keys.stream_state(stream))
        if not fields:
            return (0, None)
        return (int(fields["v"]), decode_state(stream.split(":", 1)[0], fields.get("s")))

    def members(self, key: str) -> set[str]:
        """The members of a set or a sorted set."""
        return set(self.sets.get(key, ())) | set(self.zsets.get(key, {}))

    def fold_all(self, events: Iterable[StoredEvent]) -> None:
        """Fold events in store order, one at a time; invalid events are recorded and skipped."""
        for stored in events:
            batch = BatchFold(self)
            try:
                outcome = batch.step(stored)
            except EventValidationError as exc:
                self.skipped.append((stored.position, str(exc)))
                continue
            if isinstance(outcome, (Duplicate, Gap)):
                self.skipped.append((stored.position, type(outcome).__name__.lower()))
                continue
            self.apply(batch.change().ops)
            for stream in batch.changed:
                self._states[stream] = batch.current[stream]
            if outcome:
                self.skipped.append((stored.position, outcome))
            self.watermark = max(self.watermark, stored.position)
