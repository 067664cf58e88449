"""The production fold run into memory, one event at a time: what `readmodel verify` compares
Redis with, and the cache a workspace rebuild folds in.

This is the projector's own code (`BatchFold`, the same derivations) applied without Redis,
so it proves the writer consistent with the fold, not the fold right: the property tests
check both against an oracle of their own (tests/support/oracle.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from projector.fold.addressing import addressees
from projector.fold.batch import BatchChange, BatchFold
from projector.fold.projection import Duplicate, Gap, NotShown, Slot, StoreReads
from projector.fold.records import DELETE, Op
from projector.fold.redis_dump import without_versions
from projector.fold.state import State, decode_state, split_stored
from projector.store.memory import EventIndex
from shared.errors import EventValidationError
from shared.events import StoredEvent
from shared.readmodel import keys
from shared.readmodel.owners import owner_id


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
            elif op == DELETE:
                self.hashes.pop(key, None)
            elif op == "sadd":
                self.sets.setdefault(key, set()).add(member)
            elif op == "srem":
                members = self.sets.get(key)
                if members is not None:
                    members.discard(member)
                    if not members:
                        del self.sets[key]

    def apply_change(self, change: BatchChange) -> None:
        """A batch's change, as the apply script makes it (one writer: no gate can fail)."""
        for owner in change.owners:
            self.apply(owner.ops)
        for write in change.writes:
            stored = self.hashes.get(write.key, {})
            if any(int(stored.get(name, b"-1")) > version for name, version in write.versions):
                continue
            self.hashes[write.key] = {name: str(version).encode() for name, version in write.versions}
            self.hashes[write.key].update(write.fields)

    def dump(self) -> dict[str, object]:
        """Every key with its value, in the shape `dump_generation` produces (for comparison)."""
        dumped: dict[str, object] = {}
        dumped.update({k: dict(v) for k, v in self.hashes.items()})
        dumped.update({k: dict(v) for k, v in self.zsets.items()})
        dumped.update({k: set(v) for k, v in self.sets.items()})
        return without_versions(dumped)


def _discard(
    mapping: dict[str, dict[str, bytes]] | dict[str, dict[str, float]], key: str, member: str
) -> None:
    inner = mapping.get(key)
    if inner is not None:
        inner.pop(member, None)
        if not inner:
            del mapping[key]


class MemoryProjection(KeyValues):
    """A whole read model in memory, folded from the store by the projector's own code.

    What an owner takes up from the store (an account's events, a membership) is read from
    the events folded so far, or from `store` when given (folding a part of the store).
    """

    def __init__(self, store: StoreReads | None = None, *, only: str | None = None) -> None:
        super().__init__()
        self._only = only  # fold for this owner alone (a workspace's rebuild in place)
        self._states: dict[Slot, tuple[int, State | None]] = {}
        self.index = EventIndex()
        self._reads: StoreReads = store or self.index
        self.watermark = 0
        self.skipped: list[tuple[int, str]] = []

    def state(self, slot: Slot) -> tuple[int, State | None]:
        cached = self._states.get(slot)
        if cached is not None:
            return cached
        owner, stream = slot
        fields = self.hashes.get(keys.stream_state(owner_id(owner), stream))
        if not fields:
            return (0, None)
        row = keys.app_row(owner_id(owner), stream)
        documents = dict(fields)
        if row is not None and (found := self.hashes.get(row[0], {}).get(row[1])) is not None:
            documents["row"] = found
        version, raw = split_stored(fields["v"])
        return (version, decode_state(owner, stream, raw, documents))

    def holds(self, slot: Slot) -> bool:
        owner, stream = slot
        return slot in self._states or keys.stream_state(owner_id(owner), stream) in self.hashes

    def members(self, key: str) -> set[str]:
        """The members of a set or a sorted set."""
        return set(self.sets.get(key, ())) | set(self.zsets.get(key, {}))

    def prefetch(self, slots: Sequence[Slot]) -> None:
        pass  # everything is at hand

    def prefetch_members(self, set_keys: Sequence[str]) -> None:
        pass

    def fold_all(self, events: Iterable[StoredEvent]) -> None:
        """Fold events in store order, one at a time, for every owner they are delivered to;
        events that cannot be applied are recorded and skipped."""
        for stored in events:
            self.fold_one(self.index.add(stored))

    def fold_one(self, stored: StoredEvent) -> None:
        batch = BatchFold(self, self._reads)
        outcome: Duplicate | Gap | NotShown | str | None = None
        try:
            owners = (self._only,) if self._only else addressees([stored], self._reads)[0]
            for owner in owners:
                found = batch.step(stored, owner)
                if isinstance(found, Gap):  # only a copy can be behind: catch it up first
                    for earlier in self._reads.read_stream(found.stream, found.first, found.last):
                        batch.step(earlier, owner)
                    found = batch.step(stored, owner)
                if owner == stored.owner:
                    outcome = found
        except EventValidationError as exc:
            self.skipped.append((stored.position, str(exc)))
            return
        if isinstance(outcome, (Duplicate, Gap)):
            self.skipped.append((stored.position, type(outcome).__name__.lower()))
            return
        batch.complete()
        self.apply_change(batch.change())
        for slot in batch.changed:
            self._states[slot] = batch.current[slot]
        if outcome:
            self.skipped.append((stored.position, str(outcome)))
        self.watermark = max(self.watermark, stored.position)
