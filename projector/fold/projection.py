"""What projecting reads, and the outcomes of an event that changes nothing.

The live projector, rebuilds and `MemoryProjection` all fold through
`projector.fold.batch.BatchFold`; each supplies a `StateView` (Redis, or memory) and the
store's reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from projector.fold.state import State
from shared.events import StoredEvent

# One stream as one owner holds it: (owner, stream).
Slot = tuple[str, str]


class StateView(Protocol):
    """What projecting needs to read of the read model: the states owners hold."""

    def state(self, slot: Slot) -> tuple[int, State | None]:
        """The version and state `slot` holds ((0, None) when it holds nothing)."""
        ...

    def holds(self, slot: Slot) -> bool:
        """Whether the owner keeps this stream at all (a copy is kept only where it is shown)."""
        ...

    def members(self, key: str) -> set[str]:
        """The members of a sorted set (an account's sessions)."""
        ...

    def prefetch(self, slots: Sequence[Slot]) -> None:
        """Read these slots' states ahead, at once (a hint: `state` reads them anyway)."""
        ...

    def prefetch_members(self, set_keys: Sequence[str]) -> None:
        """Read these sorted sets ahead, at once (a hint: `members` reads them anyway)."""
        ...


class References(Protocol):
    """The store's index of the accounts events name: which workspaces show an account."""

    def authored_workspaces(self, account_ids: Sequence[str]) -> dict[str, set[str]]: ...


class StoreReads(References, Protocol):
    """The event store's reads a fold needs: earlier events, the copies an owner takes up,
    and who keeps copies of what."""

    def read_stream(
        self, stream: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]: ...

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Whole streams, each in version order (the accounts a batch's apps take up)."""
        ...

    def membership_events(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[StoredEvent]]: ...


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The owner is already at or past this event's version."""

    current: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Versions `first`..`last` of `stream` must be applied (for `owner`) before this event."""

    owner: str
    stream: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class NotShown:
    """The owner keeps nothing of this stream: a copy of an account's event reaching a
    workspace that has not taken up the account yet (it reads the account's events from the
    store when it does)."""
