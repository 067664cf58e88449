"""Folding a fresh generation owner by owner: what a bulk rebuild folds each owner's events with.

A generation being built holds nothing of an owner before the rebuild reaches it, so the
states a fold starts from are those it folded itself earlier in the same owner (a long
owner is folded in parts): no read of Redis. The fold is the projector's own (`BatchFold`);
each part's change is its end states' records, rendered once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from projector.fold.addressing import addressees
from projector.fold.batch import BatchChange, BatchFold
from projector.fold.derive import session_records
from projector.fold.projection import Duplicate, Gap, Slot, StoreReads
from projector.fold.records import ZSET
from projector.fold.state import SessionState, State
from shared.errors import EventValidationError
from shared.events import StoredEvent
from shared.readmodel.owners import owner_id


class _NoCopiesYet:
    """Who keeps a copy of an account, as a fresh generation answers: nobody yet.

    A workspace holds a copy of an account only once one of its apps shows the account, and
    then takes up the account's whole stream from the store (`BatchFold.complete`): a copy
    sent to a workspace of a fresh generation is never kept, so none is sent.
    """

    def authored_workspaces(self, account_ids: Sequence[str]) -> dict[str, set[str]]:
        return {}


_NO_COPIES = _NoCopiesYet()


@dataclass(slots=True)
class OwnerStates:
    """The states one owner's fold has reached so far: the start of its next part."""

    states: dict[Slot, tuple[int, State | None]] = field(default_factory=dict)

    def state(self, slot: Slot) -> tuple[int, State | None]:
        return self.states.get(slot, (0, None))

    def holds(self, slot: Slot) -> bool:
        return slot in self.states

    def members(self, key: str) -> set[str]:
        """The sessions a subject's session set lists, from the session states folded so far."""
        return {
            state.id
            for (owner, stream), (_, state) in self.states.items()
            if stream.startswith("session:")
            and isinstance(state, SessionState)
            and (ZSET, key, state.id) in session_records(owner_id(owner), state)
        }

    def prefetch(self, slots: Sequence[Slot]) -> None:
        pass  # everything is at hand

    def prefetch_members(self, set_keys: Sequence[str]) -> None:
        pass

    def keep(self, batch: BatchFold, following: str | None) -> None:
        """Remember what `batch` folded; an app's state only while its stream may go on in the
        next part (`following`: the stream the part ended with): nothing else reads it."""
        for slot in batch.changed:
            self.states[slot] = batch.current[slot]
        for slot in [s for s in self.states if s[1].startswith("app:") and s[1] != following]:
            del self.states[slot]


def fold_part(events: Sequence[StoredEvent], states: OwnerStates, store: StoreReads) -> BatchChange | None:
    """The change of one part of an owner's events (in stream and version order) in a fresh
    generation, or None when an event needs the live writer's care (an invalid payload, a
    version missing from the part), which then takes the part over."""
    batch = BatchFold(states, store)
    last: str | None = None
    for stored, owners in zip(events, addressees(events, _NO_COPIES), strict=True):
        for owner in owners:
            try:
                outcome = batch.step(stored, owner)
            except EventValidationError:
                return None
            if isinstance(outcome, Gap) or (isinstance(outcome, Duplicate) and owner == stored.owner):
                return None
        last = stored.event.stream
    batch.complete()
    change = batch.change()
    states.keep(batch, last)
    return change
