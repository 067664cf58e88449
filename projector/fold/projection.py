"""What projecting reads, and the outcomes of an event that changes nothing.

The live projector, rebuilds and the verification oracle all fold through
`projector.fold.batch.BatchFold`; each supplies a `StateView` (Redis, or memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from projector.fold.state import State


class StateView(Protocol):
    """What projecting needs to read: stream states and fan-out sets."""

    def state(self, stream: str) -> tuple[int, State | None]: ...

    def members(self, key: str) -> set[str]:
        """The members of a fan-out set (or sorted set): who a change reaches."""
        ...


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The stream is already at or past this event's version."""

    current: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Versions `first`..`last` of `stream` must be applied before this event."""

    stream: str
    first: int
    last: int
