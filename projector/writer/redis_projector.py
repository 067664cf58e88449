"""The Redis writer: projects a batch of stored events and applies it effectively once.

Each event is delivered to one or more owners (projector/fold/addressing.py); a projector
process gets, from its partitions, the deliveries of the owners those partitions hold, and
the other processes never write those owners' keys. Per batch: one round trip reads the
states the deliveries touch, the fold runs in memory, and one round trip applies the result
with the apply script: per owner, only while the versions it read are still there (the
owner's gate), so a second writer of the same owner (a standby taking over, a rebuild
catching up after its flip, `dlq replay`) can never interleave with it. On one Redis the
whole batch is one script; on a Redis Cluster it is one script per slot (an owner's keys
share its slot), sent together, then the watermark. Nothing here trusts delivery order or
uniqueness: a duplicate is a no-op, a gap is filled from the store first, and a change
computed from a state that moved meanwhile is recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from projector.fold.addressing import addressees
from projector.fold.batch import BatchChange, BatchFold, KeyWrite, OwnerChange
from projector.fold.projection import Duplicate, Gap, NotShown, Slot, StoreReads
from projector.writer.redis_view import READ_STATES, RedisView
from projector.writer.scripts import lua_script, run_scripts
from projector.writer.watermark import Watermarks
from shared.errors import EventValidationError, ReadModelError
from shared.events import StoredEvent
from shared.readmodel import keys
from shared.readmodel.connection import is_cluster
from shared.readmodel.owners import ACCOUNT, home_owner, named_account, owner_id

APPLY_SCRIPT = lua_script("apply.lua")
# Only a second writer of the same owner makes a batch conflict, and then the next round
# finds the other's work done: a few rounds settle any overlap.
_MAX_ROUNDS = 6
_CONFLICT_PAUSE = 0.005  # seconds, times the round


class NoGenerationError(ReadModelError):
    """There is no live generation: the read model must be (re)built first."""


class KeepsConflictingError(ReadModelError):
    """Another writer of the same owners kept moving their streams: try the batch again later."""


@dataclass(frozen=True, slots=True)
class Poison:
    """An event that cannot be applied, with the reason; its stream waits behind it."""

    event: StoredEvent
    reason: str


@dataclass(slots=True)
class BatchResult:
    """What a batch did, for acknowledgement, dead-lettering and metrics."""

    # By the delivery to the event's own owner: every event counts once across the system.
    applied: list[StoredEvent] = field(default_factory=list)
    duplicates: list[StoredEvent] = field(default_factory=list)
    # Events this batch had only for owners keeping a copy (another partition has the rest).
    copied: list[StoredEvent] = field(default_factory=list)
    gap_filled: int = 0
    skipped: list[tuple[StoredEvent, str]] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)

    @property
    def settled(self) -> list[StoredEvent]:
        """Events whose effect is in Redis (applied now or before): safe to acknowledge."""
        return self.applied + self.duplicates + self.copied


Delivery = tuple[StoredEvent, str]  # an event, for one owner


@dataclass(slots=True)
class _Round:
    """One attempt at a batch: what each delivery came to, kept only if the batch lands."""

    folded: dict[int, StoredEvent] = field(default_factory=dict)
    own: dict[int, bool] = field(default_factory=dict)  # position -> its own owner's delivery folded
    skipped: dict[int, str] = field(default_factory=dict)
    poison: dict[int, Poison] = field(default_factory=dict)
    blocked: dict[Slot, str] = field(default_factory=dict)
    gap_filled: int = 0


class RedisProjector:
    """Applies stored events to one generation (or whichever is live)."""

    def __init__(self, redis: Any, store: StoreReads, *, generation: str | None = None) -> None:
        self._redis = redis
        self._store = store
        self._generation = generation
        self._changes = ChangeApplier(redis)
        self._watermarks = Watermarks(redis)
        self._reads = redis.register_script(READ_STATES)

    @property
    def generation(self) -> str | None:
        return self._generation

    def live_generation(self) -> str:
        if self._generation is not None:
            return self._generation
        raw = self._redis.get(keys.LIVE_POINTER)
        if raw is None:
            raise NoGenerationError("no live generation: the read model has not been built")
        return raw.decode()

    def apply(
        self, events: Sequence[StoredEvent], owners: Mapping[int, Sequence[str]] | None = None
    ) -> BatchResult:
        """Apply a batch for `owners` (by position: those its deliveries were addressed to;
        None: every owner each event goes to). Events the batch could not settle are
        reported, never half-applied.

        Poison is settled too (it goes to the dead letters, or a rebuild's poison list): the
        watermark passes it, so a dead letter never holds readiness, self-healing or a
        rebuild's flip behind it.
        """
        result = BatchResult()
        unique = self._with_owners(sorted({s.position: s for s in events}.values(), key=lambda s: s.position))
        if owners is None:
            addressed = addressees(unique, self._store)
            deliveries = [(s, o) for s, found in zip(unique, addressed, strict=True) for o in found]
        else:
            # An event given no owners is for its own (`_with_owners` decided it).
            deliveries = [
                (s, o) for s in unique for o in dict.fromkeys(owners.get(s.position) or (str(s.owner),))
            ]
        for round_number in range(_MAX_ROUNDS):
            if round_number:
                time.sleep(_CONFLICT_PAUSE * round_number)
            attempt = self._round(deliveries)
            if attempt is not None:
                self._settle(unique, attempt, result)
                break
        else:
            raise KeepsConflictingError(f"a batch of {len(unique)} events kept meeting another writer")
        if result.poison:
            last = max(poison.event.position for poison in result.poison)
            self._watermarks.raise_to(self.live_generation(), last)
        return result

    def _with_owners(self, events: list[StoredEvent]) -> list[StoredEvent]:
        """Events with their stream's owner: the store says it; an event built elsewhere (a
        test's) gets it from its stream's first event."""
        found: list[StoredEvent] = []
        firsts: dict[str, str] = {}
        for stored in events:
            if stored.owner is not None:
                found.append(stored)
                continue
            stream = stored.event.stream
            if stream not in firsts:
                first = self._store.read_stream(stream, 1, 1)
                firsts[stream] = home_owner(stored.event, first[0].event if first else None)
            found.append(StoredEvent(stored.position, stored.event, stored.recorded_at, firsts[stream]))
        return found

    def _round(self, deliveries: list[Delivery]) -> _Round | None:
        """Fold and apply every delivery; None when an owner's stream moved meanwhile."""
        generation = self.live_generation()
        view = RedisView(self._redis, generation, reads=self._reads)
        view.prefetch(_slots(deliveries))
        batch = BatchFold(view, self._store)
        attempt = _Round()
        for stored, owner in deliveries:
            self._fold_one(stored, owner, batch, attempt, fill_gaps=True)
        view.prefetch(batch.wanted_copies())
        batch.complete()
        if not attempt.folded:
            return attempt
        status = self._changes.send(self._generation or "", generation, batch.change())
        if status == "nogen":
            raise NoGenerationError("the live generation disappeared while applying")
        return attempt if status == "ok" else None

    def _fold_one(
        self, stored: StoredEvent, owner: str, batch: BatchFold, attempt: _Round, *, fill_gaps: bool
    ) -> None:
        position, slot = stored.position, (owner, stored.event.stream)
        if slot in attempt.blocked:
            attempt.poison.setdefault(
                position, Poison(stored, f"stream {slot[1]} waits behind {attempt.blocked[slot]}")
            )
            return
        try:
            outcome = batch.step(stored, owner)
        except EventValidationError as exc:
            reason = f"invalid event: {exc}"
            attempt.blocked[slot] = f"version {stored.event.version} ({reason})"
            attempt.poison.setdefault(position, Poison(stored, reason))
            return
        own = owner == stored.owner
        if isinstance(outcome, (Duplicate, NotShown)):
            if own:
                attempt.own.setdefault(position, False)
            return
        if isinstance(outcome, Gap):
            if not fill_gaps:
                attempt.blocked[slot] = f"a gap at version {outcome.first}"
                attempt.poison.setdefault(
                    position, Poison(stored, f"missing versions {outcome.first}..{outcome.last}")
                )
                return
            missing = self._store.read_stream(outcome.stream, outcome.first, outcome.last)
            attempt.gap_filled += len(missing)
            for earlier in missing:
                self._fold_one(earlier, owner, batch, attempt, fill_gaps=False)
            self._fold_one(stored, owner, batch, attempt, fill_gaps=False)
            return
        attempt.folded[position] = stored
        if own:
            attempt.own[position] = True
            if outcome:
                attempt.skipped[position] = outcome

    @staticmethod
    def _settle(events: list[StoredEvent], attempt: _Round, result: BatchResult) -> None:
        result.gap_filled += attempt.gap_filled
        for stored in events:
            position = stored.position
            poison = attempt.poison.get(position)
            if poison is not None:
                result.poison.append(poison)
            elif attempt.own.get(position):
                result.applied.append(stored)
                if position in attempt.skipped:
                    result.skipped.append((stored, attempt.skipped[position]))
            elif position in attempt.own:
                result.duplicates.append(stored)
            else:
                result.copied.append(stored)
        # Earlier events fetched to fill a gap that turned out poison: dead-lettered too.
        listed = {stored.position for stored in events}
        result.poison.extend(p for position, p in attempt.poison.items() if position not in listed)


class ChangeApplier:
    """Sends a change to Redis: one script on one Redis; on a cluster one per slot (an
    owner's share and the id-found keys of each slot), then the watermark."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._cluster = is_cluster(redis)
        self._apply = redis.register_script(APPLY_SCRIPT)
        self._watermarks = Watermarks(redis)

    def send(self, target: str, generation: str, change: BatchChange) -> str:
        """Apply `change` to `target` ('' = whichever generation is live when the script runs,
        on one Redis; a cluster writes `generation`, read before the fold: a flip since then
        sends the batch to the old generation, and the rebuild's catch-up after its flip
        applies it again). Returns 'ok', 'conflict' or 'nogen'."""
        if not self._cluster:
            answer = self._apply(keys=[], args=apply_arguments(target, change.position, change))
            return _text(answer)
        prefix = keys.full_key(generation, "")
        groups: dict[int, tuple[str, _Part]] = {}
        for owner in change.owners:
            route = prefix + keys.stream_state(owner_id(owner.owner), "")
            _group(groups, self._redis.keyslot(route), route).owners.append(owner)
        for write in change.writes:
            route = prefix + write.key
            _group(groups, self._redis.keyslot(route), route).writes.append(write)
        calls = [
            (self._apply, route, apply_arguments(generation, 0, part)) for route, part in groups.values()
        ]
        if any(_text(answer) != "ok" for answer in run_scripts(self._redis, calls)):
            return "conflict"
        if change.position:
            self._watermarks.raise_to(generation, change.position)
        return "ok"


@dataclass(slots=True)
class _Part:
    """The share of a change that falls in one cluster slot."""

    owners: list[OwnerChange] = field(default_factory=list)
    writes: list[KeyWrite] = field(default_factory=list)


def _group(groups: dict[int, tuple[str, _Part]], slot: int, route: str) -> _Part:
    if slot not in groups:
        groups[slot] = (route, _Part())
    return groups[slot][1]


def _slots(deliveries: Sequence[Delivery]) -> list[Slot]:
    """Every slot the deliveries fold into, the account each account's session reads (its
    token carries the account's status) and the copy of its author a new app needs."""
    found: dict[Slot, None] = {}
    for stored, owner in deliveries:
        event = stored.event
        found[(owner, event.stream)] = None
        if event.stream_kind == "session" and owner.startswith(f"{ACCOUNT}:"):
            found[(owner, f"account:{owner_id(owner)}")] = None
        elif event.type == "app.created" and (author := named_account(event)) is not None:
            found[(owner, f"account:{author}")] = None  # the workspace's copy of the author
    return list(found)


def apply_arguments(generation: str, position: int, change: BatchChange | _Part) -> list[Any]:
    """The apply script's ARGV for a change (or a cluster slot's part of one)."""
    args: list[Any] = [generation, keys.LIVE_POINTER, position]
    checks = [check for owner in change.owners for check in owner.checks]
    args.append(len(checks))
    for key, version in checks:
        args.extend((key, version))
    args.append(len(change.writes))
    for write in change.writes:
        args.extend((write.key, len(write.versions)))
        for name, version in write.versions:
            args.extend((name, version))
        args.append(len(write.fields))
        for name, value in write.fields:
            args.extend((name, value))
    ops = [op for owner in change.owners for op in owner.ops]
    args.append(len(ops))
    for op in ops:
        args.extend(op)
    return args


def _text(answer: Any) -> str:
    return answer.decode() if isinstance(answer, bytes) else str(answer)
