"""Giving drafts their stream versions, and recognising events the store already holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from projector.capture.drafts import Draft
from projector.store import AppendPlan
from shared.errors import EventValidationError
from shared.events import Event


class VersionSource(Protocol):
    """The part of the event store that version assignment reads."""

    def next_versions(self, streams: Sequence[str]) -> dict[str, int]: ...

    def check(self, batch: Sequence[Event]) -> AppendPlan: ...


@dataclass(frozen=True, slots=True)
class Refused:
    """A draft that breaks the contract (a Dify value the contract cannot carry), and why."""

    draft: Draft
    reason: str


@dataclass(frozen=True, slots=True)
class Assignment:
    """The events to append, and what was left out: already stored, streamless, refused."""

    events: tuple[Event, ...]
    already_stored: int
    without_stream: tuple[Draft, ...]
    refused: tuple[Refused, ...]


def assign_versions(drafts: Sequence[Draft], store: VersionSource) -> Assignment:
    """Number the drafts per stream after what the store holds, in draft order.

    Drafts the store already holds (same id) are left out. Event ids are derived from the
    changes they come from, so after a run stopped between its append and its cursor save,
    the changes read again give the same ids; numbered blindly they would carry newer
    versions, which the store refuses as different events under known ids. One look-up of
    the batch's ids per batch covers a stopped batch of any size.

    An event other than a stream's first needs its stream: an update to a row that existed
    before the capture was installed (and no snapshot was taken) is left out, not guessed.
    """
    next_version = store.next_versions([d.stream for d in drafts])
    provisional = _number(drafts, next_version, frozenset())
    stored: frozenset[str] = frozenset()
    if provisional.events:
        fresh = {event.id for event in store.check(provisional.events).new}
        stored = frozenset(event.id for event in provisional.events if event.id not in fresh)
    return _number(drafts, next_version, stored) if stored else provisional


def _number(drafts: Sequence[Draft], first_version: dict[str, int], stored: frozenset[str]) -> Assignment:
    next_version = dict(first_version)
    events: list[Event] = []
    without_stream: list[Draft] = []
    refused: list[Refused] = []
    already = 0
    for draft in drafts:
        if draft.id in stored:
            already += 1
            continue
        version = next_version[draft.stream]
        if version == 1 and not draft.opens_stream:
            without_stream.append(draft)
            continue
        try:
            event = draft.with_version(version)
        except EventValidationError as error:
            refused.append(Refused(draft, str(error)))
            continue
        events.append(event)
        next_version[draft.stream] = version + 1
    return Assignment(
        events=tuple(events),
        already_stored=already,
        without_stream=tuple(without_stream),
        refused=tuple(refused),
    )
