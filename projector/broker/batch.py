"""Handling one batch of delivered messages: decode, apply, dead-letter, then acknowledge.

No kombu here: a delivery is anything with a `body`, `ack()` and `reject(requeue)`, so the
rules are the same for every transport and testable on their own. A message is settled
(acknowledged) only after its effect is in Redis or its dead letter is in the store, so a
crash at any point means a redelivery, which the writer turns into a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis import exceptions as redis_errors

from projector.broker import wire
from projector.dead_letters.records import DeadLetter
from projector.writer import BatchResult, KeepsConflictingError, NoGenerationError
from shared.errors import EventValidationError, StoreError
from shared.events import StoredEvent

log = logging.getLogger(__name__)

# Failures of the services around the projector, never of an event: wait and try again,
# never dead-letter. (A missing live generation waits for a rebuild to create one.)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    StoreError,
    NoGenerationError,
    KeepsConflictingError,
)


class Delivery(Protocol):
    """One delivered message, as the handler needs it."""

    @property
    def body(self) -> bytes | str | None: ...

    def ack(self) -> None: ...

    def reject(self, requeue: bool = False) -> None: ...


class Applier(Protocol):
    """The writer: applies stored events to Redis, for the owners given by position (None:
    every owner each event goes to)."""

    def apply(
        self, events: Sequence[StoredEvent], owners: Mapping[int, Sequence[str]] | None = None
    ) -> BatchResult: ...


class DeadLetterSink(Protocol):
    """Where dead letters are recorded."""

    def record(self, letters: Sequence[DeadLetter], *, count_attempts: bool = True) -> None: ...


@dataclass(slots=True)
class HandledBatch:
    """What one batch came to, for logs and metrics."""

    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    gap_filled: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    messages: int = 0
    requeued: int = 0
    # The deliveries acknowledged (their events are in Redis), in delivery order.
    acked: list[Delivery] = field(default_factory=list)


@dataclass(slots=True)
class Totals:
    """Running counts over many batches (a consumer's lifetime)."""

    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    gap_filled: int = 0
    dead_letters: int = 0
    messages: int = 0
    requeued: int = 0

    def add(self, batch: HandledBatch) -> None:
        self.batches += 1
        self.applied += batch.applied
        self.duplicates += batch.duplicates
        self.skipped += batch.skipped
        self.gap_filled += batch.gap_filled
        self.dead_letters += len(batch.dead_letters)
        self.messages += batch.messages
        self.requeued += batch.requeued


class BatchHandler:
    """Applies a batch through the writer and settles every message of it."""

    def __init__(self, projector: Applier, dead_letters: DeadLetterSink, *, max_attempts: int = 3) -> None:
        self._projector = projector
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts

    def handle(self, deliveries: Sequence[Delivery]) -> HandledBatch:
        """Apply and settle `deliveries`; raises one of TRANSIENT_ERRORS with nothing settled."""
        outcome = HandledBatch(messages=len(deliveries))
        events: dict[int, StoredEvent] = {}
        owners: dict[int, dict[str, None]] = {}
        waiting: dict[int, list[Delivery]] = {}
        undecodable: list[Delivery] = []
        for delivery in deliveries:
            body = _body(delivery)
            try:
                delivered = wire.decode(body)
            except EventValidationError as exc:
                outcome.dead_letters.append(_undecodable(body, exc))
                undecodable.append(delivery)
                continue
            stored = delivered.stored
            events.setdefault(stored.position, stored)
            # One event may come once per partition this consumer holds: for each one's owners.
            # A message naming none (an earlier relay's) is for the event's own owner.
            if delivered.to:
                owners.setdefault(stored.position, {}).update(dict.fromkeys(delivered.to))
            waiting.setdefault(stored.position, []).append(delivery)

        addressed = {position: tuple(found) for position, found in owners.items()}
        result, failed = self._apply(sorted(events.values(), key=lambda s: s.position), addressed)
        outcome.applied = len(result.applied)
        outcome.duplicates = len(result.duplicates)
        outcome.skipped = len(result.skipped)
        outcome.gap_filled = result.gap_filled
        if result.skipped:  # recorded and skipped in live mode (events.md); counted in the totals
            stored, reason = result.skipped[0]
            log.warning(
                "skipped %d events, the first at position %d: %s",
                len(result.skipped),
                stored.position,
                reason,
            )
        # Poison may include events the writer fetched from the store to fill a gap, among
        # them one this batch could not decode: it keeps its first letter (one failure).
        letters = {letter.key: letter for letter in outcome.dead_letters}
        for letter in (
            *(DeadLetter.for_event(p.event, p.reason) for p in result.poison),
            *(DeadLetter.for_event(s, reason, attempts=self._max_attempts) for s, reason in failed),
        ):
            letters.setdefault(letter.key, letter)
        outcome.dead_letters = list(letters.values())
        # Recorded before anything is settled: a crash in between means a redelivery.
        self._dead_letters.record(outcome.dead_letters)
        for letter in outcome.dead_letters:
            log.error("dead letter (position %s): %s", letter.position, letter.reason)

        settled = {stored.position for stored in result.settled}
        dead = {letter.position for letter in outcome.dead_letters}
        for position, waiters in waiting.items():
            for delivery in waiters:
                if position in settled:
                    delivery.ack()
                    outcome.acked.append(delivery)
                elif position in dead:
                    delivery.reject(requeue=False)
                else:  # not expected from the writer; never drop an event silently
                    outcome.requeued += 1
                    delivery.reject(requeue=True)
        for delivery in undecodable:
            delivery.reject(requeue=False)
        return outcome

    def _apply(
        self, events: list[StoredEvent], owners: Mapping[int, Sequence[str]]
    ) -> tuple[BatchResult, list[tuple[StoredEvent, str]]]:
        """The writer's result, retrying a failing batch and then isolating the failing events."""
        if not events:
            return BatchResult(), []
        error: Exception | None = None
        for _ in range(self._max_attempts):
            try:
                return self._projector.apply(events, owners), []
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                error = exc
                log.warning("applying a batch of %d events failed: %r", len(events), exc)
        log.error("a batch keeps failing (%r); applying its events one by one", error)
        merged = BatchResult()
        failed: list[tuple[StoredEvent, str]] = []
        for stored in events:
            reason = self._apply_alone(stored, owners, merged)
            if reason is not None:
                failed.append((stored, reason))
        return merged, failed

    def _apply_alone(
        self, stored: StoredEvent, owners: Mapping[int, Sequence[str]], merged: BatchResult
    ) -> str | None:
        """Apply one event into `merged`; the reason when every attempt raised."""
        error: Exception | None = None
        for _ in range(self._max_attempts):
            try:
                result = self._projector.apply([stored], owners)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                error = exc
                continue
            merged.applied.extend(result.applied)
            merged.duplicates.extend(result.duplicates)
            merged.copied.extend(result.copied)
            merged.skipped.extend(result.skipped)
            merged.poison.extend(result.poison)
            merged.gap_filled += result.gap_filled
            return None
        return f"handler failed {self._max_attempts} times: {error!r}"


def _undecodable(body: bytes, error: EventValidationError) -> DeadLetter:
    identity = wire.identify(body)
    if identity.position is None:
        return DeadLetter(reason=f"undecodable message: {error}", body=body)
    return DeadLetter(
        reason=f"invalid event: {error}",
        position=identity.position,
        event_id=identity.event_id,
        stream=identity.stream,
        type=identity.type,
    )


def _body(delivery: Delivery) -> bytes:
    body = delivery.body
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else body
