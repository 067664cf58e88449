"""Re-driving dead letters after a fix: re-read the events, apply them in position order.

The store is the truth, so an event is re-read by its position (a corrected row is picked
up); a body that never decoded is parsed again. Whatever settles is removed from the
table; whatever still fails stays, with the new reason and one more attempt counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from projector.broker import wire
from projector.dead_letters.records import DeadLetter, RecordedDeadLetter
from projector.dead_letters.store import DeadLetterStore
from shared.errors import EventValidationError
from shared.events import StoredEvent

if TYPE_CHECKING:
    from projector.broker.batch import Applier

_CHUNK = 500


class PositionReader(Protocol):
    """The part of the event store replay reads."""

    def read_after(self, position: int, limit: int) -> list[StoredEvent]: ...


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay did: dead letters settled (and removed), and those still failing."""

    settled: int
    failing: int


def replay(
    letters: DeadLetterStore,
    store: PositionReader,
    projector: Applier,
    *,
    ids: Sequence[int] | None = None,
) -> ReplayReport:
    """Replay the dead letters `ids` (all when None) through the writer."""
    recorded = letters.read(ids)
    settled = failing = 0
    for start in range(0, len(recorded), _CHUNK):
        chunk = recorded[start : start + _CHUNK]
        done, still = _replay_chunk(letters, store, projector, chunk)
        settled += done
        failing += still
    return ReplayReport(settled=settled, failing=failing)


def _replay_chunk(
    letters: DeadLetterStore,
    store: PositionReader,
    projector: Applier,
    chunk: Sequence[RecordedDeadLetter],
) -> tuple[int, int]:
    by_position: dict[int, list[RecordedDeadLetter]] = {}
    events: dict[int, StoredEvent] = {}
    failures: list[DeadLetter] = []
    for letter in chunk:
        try:
            stored = _resolve(letter, store)
        except EventValidationError as exc:
            failures.append(_again(letter, f"{_kind(letter)}: {exc}"))
            continue
        events[stored.position] = stored
        by_position.setdefault(stored.position, []).append(letter)

    result = projector.apply(sorted(events.values(), key=lambda s: s.position))
    settled_positions = {stored.position for stored in result.settled}
    poison = {p.event.position: p for p in result.poison}
    remove: list[int] = []
    for position, waiting in by_position.items():
        if position in settled_positions:
            remove.extend(letter.id for letter in waiting)
    for position, item in poison.items():
        known = by_position.get(position)
        if known:
            failures.extend(_again(letter, item.reason) for letter in known)
        else:  # an earlier event of the stream, fetched to fill a gap
            failures.append(DeadLetter.for_event(item.event, item.reason))
    letters.record(failures)
    letters.remove(remove)
    return len(remove), len(chunk) - len(remove)


def _resolve(letter: RecordedDeadLetter, store: PositionReader) -> StoredEvent:
    """The event a dead letter stands for, validated the way the consumer validates it."""
    position = letter.position
    if position is None:
        decoded = wire.decode(letter.body or b"")
        position = decoded.stored.position
    found = store.read_after(position - 1, 1)
    if not found or found[0].position != position:
        raise EventValidationError("position", f"no event at position {position} in the store")
    # The same checks as on the wire, so a row that is still wrong fails here again.
    return wire.decode(wire.encode(found[0])).stored


def _again(letter: RecordedDeadLetter, reason: str) -> DeadLetter:
    return DeadLetter(
        reason=reason,
        position=letter.position,
        event_id=letter.event_id,
        stream=letter.stream,
        type=letter.type,
        body=letter.body,
    )


def _kind(letter: RecordedDeadLetter) -> str:
    return "undecodable message" if letter.position is None else "invalid event"
