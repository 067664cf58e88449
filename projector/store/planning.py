"""Deciding what an append writes: duplicates, id conflicts and version order, without I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.errors import DuplicateIdConflictError, StoreError, VersionConflictError
from shared.events import Event


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the event at `index` of a batch cannot be appended."""

    index: int
    error: StoreError


@dataclass(frozen=True, slots=True)
class AppendPlan:
    """The events a batch adds, how many it repeats, and what stops it."""

    new: tuple[Event, ...]
    duplicates: int
    problems: tuple[Problem, ...]


def plan_append(
    events: Sequence[Event],
    stored: Mapping[str, Event],
    next_versions: Mapping[str, int],
) -> AppendPlan:
    """Classify a batch against the stored events with its ids and its streams' next versions."""
    expected = dict(next_versions)
    earlier: dict[str, Event] = {}
    new: list[Event] = []
    problems: list[Problem] = []
    duplicates = 0
    for index, event in enumerate(events):
        known = stored.get(event.id)
        if known is None:
            known = earlier.get(event.id)
        if known is not None:
            if known == event:
                duplicates += 1
            else:
                problems.append(Problem(index, DuplicateIdConflictError(event.id)))
            continue
        want = expected.get(event.stream, 1)
        if event.version != want:
            problems.append(Problem(index, VersionConflictError(event.stream, event.version, want)))
        # Continue from the version given, so one gap is reported once, not on every later line.
        expected[event.stream] = event.version + 1
        earlier[event.id] = event
        new.append(event)
    return AppendPlan(new=tuple(new), duplicates=duplicates, problems=tuple(problems))
