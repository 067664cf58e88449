"""Checking a JSON Lines file of events before anything of it is appended."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from projector.store.event_store import EventStore
from shared.errors import EventValidationError, VersionConflictError
from shared.events import Event, parse_event


@dataclass(frozen=True, slots=True)
class LineProblem:
    """Why line `line` (1-based) cannot be appended: `<field>: <reason>`."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class CheckedLines:
    """The events a file holds, in order, and every problem found in it."""

    events: tuple[Event, ...]
    problems: tuple[LineProblem, ...]


def check_lines(lines: Iterable[bytes], store: EventStore) -> CheckedLines:
    """Parse every non-blank line and check the events against the contract and the store."""
    parsed: list[tuple[int, Event]] = []
    problems: list[LineProblem] = []
    unreadable: dict[str, int] = {}  # stream -> first line of it that did not parse
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            problems.append(LineProblem(number, f"event: not valid JSON ({error.msg})"))
            continue
        try:
            parsed.append((number, parse_event(raw)))
        except EventValidationError as error:
            problems.append(LineProblem(number, str(error)))
            stream = raw.get("stream") if isinstance(raw, dict) else None
            if isinstance(stream, str):
                unreadable.setdefault(stream.lower(), number)
    plan = store.check([event for _, event in parsed])
    for problem in plan.problems:
        number, event = parsed[problem.index]
        # A version after an unreadable line of the same stream is that line's fault, not its own.
        if isinstance(problem.error, VersionConflictError) and unreadable.get(event.stream, number) < number:
            continue
        problems.append(LineProblem(number, str(problem.error)))
    problems.sort(key=lambda problem: problem.line)
    return CheckedLines(events=tuple(event for _, event in parsed), problems=tuple(problems))
