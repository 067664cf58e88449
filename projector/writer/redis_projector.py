"""The Redis writer: projects a batch of stored events and applies it effectively once.

Per batch: one round trip reads the states the batch touches, the fold runs in memory, and
one pipelined round trip applies every event with the apply script, which re-checks each
stream's version inside Redis. Nothing here trusts delivery order or uniqueness: a
duplicate is a no-op, a gap is filled from the store first, and a change computed from
a state that moved meanwhile is recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from projector.fold.batch import BatchChange, BatchFold
from projector.fold.projection import Duplicate, Gap
from projector.writer.cluster_apply import OK, ClusterApplier, RetryPlan
from projector.writer.redis_view import RedisView
from projector.writer.scripts import lua_script
from projector.writer.stream_locks import StreamLocks
from projector.writer.watermark import Watermarks
from shared.errors import EventValidationError, ReadModelError
from shared.events import StoredEvent
from shared.readmodel import keys
from shared.readmodel.connection import is_cluster

APPLY_SCRIPT = lua_script("apply.lua")
_MAX_ROUNDS = 12
_CONFLICT_PAUSE = 0.005  # seconds, times the round: lets the other writer finish its steps


class StreamReader(Protocol):
    """The part of the event store gap filling needs."""

    def read_stream(
        self, stream: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]: ...


class NoGenerationError(ReadModelError):
    """There is no live generation: the read model must be (re)built first."""


@dataclass(frozen=True, slots=True)
class Poison:
    """An event that cannot be applied, with the reason; its stream waits behind it."""

    event: StoredEvent
    reason: str


@dataclass(slots=True)
class BatchResult:
    """What a batch did, for acknowledgement, dead-lettering and metrics."""

    applied: list[StoredEvent] = field(default_factory=list)
    duplicates: list[StoredEvent] = field(default_factory=list)
    gap_filled: int = 0
    skipped: list[tuple[StoredEvent, str]] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)

    @property
    def settled(self) -> list[StoredEvent]:
        """Events whose effect is in Redis (applied now or before): safe to acknowledge."""
        return self.applied + self.duplicates


class RedisProjector:
    """Applies stored events to one generation (or whichever is live)."""

    def __init__(
        self,
        redis: Any,
        store: StreamReader,
        *,
        generation: str | None = None,
        cluster_applier: ClusterApplier | None = None,
    ) -> None:
        self._redis = redis
        self._store = store
        self._generation = generation
        self._apply = redis.register_script(APPLY_SCRIPT)
        # A cluster cannot apply a batch in one script: it goes slot by slot (cluster_apply).
        if cluster_applier is None and is_cluster(redis):
            cluster_applier = ClusterApplier(redis)
        self._cluster = cluster_applier
        self._locks = StreamLocks(redis) if self._cluster is not None else None
        self._watermarks = Watermarks(redis)

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

    def apply(self, events: Sequence[StoredEvent]) -> BatchResult:
        """Apply a batch; events the batch could not settle are reported, never half-applied.

        Poison is settled too (it goes to the dead letters, or a rebuild's poison list): the
        watermark passes it, so a dead letter never holds readiness, self-healing or a
        rebuild's flip behind it.
        """
        result = BatchResult()
        pending = sorted(events, key=lambda e: e.position)
        plan = RetryPlan()
        for round_number in range(_MAX_ROUNDS):
            if not pending:
                break
            if round_number:
                time.sleep(_CONFLICT_PAUSE * round_number)
            pending = self._round(pending, result, plan)
        for stored in pending:
            result.poison.append(Poison(stored, "could not be applied after repeated conflicts"))
        if result.poison:
            last = max(poison.event.position for poison in result.poison)
            self._watermarks.raise_to(self.live_generation(), last)
        return result

    def _round(self, events: list[StoredEvent], result: BatchResult, plan: RetryPlan) -> list[StoredEvent]:
        """Fold and apply `events` following `plan` (emptied once a round lands); return those
        to retry."""
        # Every stream with events here is this writer's, those held back for later included:
        # it folds a held-back stream from the store up to its cap, then the rest next round.
        owned = {stored.event.stream for stored in events}
        now: list[StoredEvent] = []
        deferred: list[StoredEvent] = []
        for stored in events:
            (deferred if plan.holds_back(stored.event) else now).append(stored)
        events = now
        generation = self.live_generation()
        held = self._locks.acquire(generation, owned) if self._locks is not None else None
        try:
            return self._fold_and_send(generation, events, result, plan, owned) + deferred
        finally:
            if held is not None and self._locks is not None:
                self._locks.release(held)

    def _fold_and_send(
        self,
        generation: str,
        events: list[StoredEvent],
        result: BatchResult,
        plan: RetryPlan,
        owned: set[str],
    ) -> list[StoredEvent]:
        view = RedisView(self._redis, generation)
        view.prefetch([*plan.targets, *owned])
        if self._cluster is not None and self._redo_unfinished(view, plan, owned):
            return events  # the next round first redoes what a writer before us left half-done
        view.prefetch_app_context()
        view.prefetch_sets(_fan_out_sets(events))
        batch = BatchFold(view)
        folded: list[tuple[StoredEvent, str | None]] = []
        blocked: dict[str, str] = {}
        for stream, version in plan.targets.items():
            # A cluster slot's records are past this stream's state: read its events up to
            # there from the store first (cluster_apply.py explains when and why).
            applied, _ = batch.read(stream)
            later = self._store.read_stream(stream, applied + 1, version) if version > applied else []
            if stream not in owned:
                batch.look_ahead(stream, later)
                continue
            for earlier in later:
                self._fold_one(earlier, batch, folded, blocked, result, fill_gaps=False)
        for stored in events:
            self._fold_one(stored, batch, folded, blocked, result, fill_gaps=True)
        return self._send(generation, batch, folded, result, plan)

    @staticmethod
    def _redo_unfinished(view: RedisView, plan: RetryPlan, owned: set[str]) -> bool:
        """Cap each owned stream a dead writer left half-applied at the version it was going
        to; True when that changes the plan."""
        changed = False
        for stream in owned:
            pending = view.pending(stream)
            if (
                pending is not None
                and pending > view.state(stream)[0]
                and not (stream in plan.capped and plan.targets[stream] == pending)
            ):
                plan.aim(stream, pending, cap=True)
                changed = True
        return changed

    def _fold_one(
        self,
        stored: StoredEvent,
        batch: BatchFold,
        folded: list[tuple[StoredEvent, str | None]],
        blocked: dict[str, str],
        result: BatchResult,
        *,
        fill_gaps: bool,
    ) -> None:
        stream = stored.event.stream
        if stream in blocked:
            result.poison.append(Poison(stored, f"stream {stream} waits behind {blocked[stream]}"))
            return
        try:
            outcome = batch.step(stored)
        except EventValidationError as exc:
            reason = f"invalid event: {exc}"
            blocked[stream] = f"version {stored.event.version} ({reason})"
            result.poison.append(Poison(stored, reason))
            return
        if isinstance(outcome, Duplicate):
            result.duplicates.append(stored)
            return
        if isinstance(outcome, Gap):
            if not fill_gaps:
                blocked[stream] = f"a gap at version {outcome.first}"
                result.poison.append(Poison(stored, f"missing versions {outcome.first}..{outcome.last}"))
                return
            missing = self._store.read_stream(stream, outcome.first, outcome.last)
            result.gap_filled += len(missing)
            for earlier in missing:
                self._fold_one(earlier, batch, folded, blocked, result, fill_gaps=False)
            self._fold_one(stored, batch, folded, blocked, result, fill_gaps=False)
            return
        folded.append((stored, outcome))

    def _send(
        self,
        generation: str,
        batch: BatchFold,
        folded: list[tuple[StoredEvent, str | None]],
        result: BatchResult,
        plan: RetryPlan,
    ) -> list[StoredEvent]:
        """Apply the batch's net effect (one atomic call on one Redis, slot by slot on a
        cluster); return the events to recompute."""
        if not folded:
            plan.clear()  # nothing left to redo up to a cap: what was held back comes next
            return []
        change = batch.change()
        if self._cluster is not None:
            # The generation was read before the fold: a flip since then sends this batch to
            # the old generation, and the rebuild's catch-up after its flip applies it again.
            outcome = self._cluster.apply(generation, change)
            status = outcome.status
            if status == OK:
                plan.clear()  # what was held back follows in the next round, as it is
            else:
                plan.merge(outcome.plan)
        else:
            answer = self._apply(keys=[], args=apply_arguments(self._generation or "", change))
            status = answer.decode() if isinstance(answer, bytes) else str(answer)
        if status == "nogen":
            raise NoGenerationError("the live generation disappeared while applying")
        if status != OK:  # a stream moved under us (another writer): recompute from Redis
            return [stored for stored, _ in folded]
        for stored, skipped in folded:
            result.applied.append(stored)
            if skipped:
                result.skipped.append((stored, skipped))
        return []


def _fan_out_sets(events: Sequence[StoredEvent]) -> list[str]:
    """The sets a rename in this batch would fan out over, to read them up front."""
    found: list[str] = []
    for stored in events:
        event = stored.event
        if event.type in ("account.created", "account.updated"):
            found.append(keys.account_apps(event.stream_id))
            found.append(keys.account_sessions(event.stream_id))
        elif event.type in ("workspace.created", "workspace.renamed"):
            found.append(keys.workspace_apps(event.stream_id))
    return found


def apply_arguments(generation: str, change: BatchChange) -> list[Any]:
    """The apply script's ARGV for a batch's change."""
    args: list[Any] = [generation, keys.LIVE_POINTER, change.position, len(change.checks)]
    for stream, version in change.checks:
        args.append(keys.stream_state(stream))
        args.append(version)
    args.append(len(change.sizes))
    for size in change.sizes:
        args.extend(size)
    ops = change.ops
    args.append(len(ops))
    for op in ops:
        args.extend(op)
    return args
