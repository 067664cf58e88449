"""Checking a JSON Lines file of events before anything of it is appended, in bounded memory.

The file is read once, a chunk of lines at a time; each chunk is checked against the store
and against the lines before it, which a FileIndex remembers on disk. Memory holds one
chunk however large the file. The events that would be new are kept in the index, in
file order, for the append that follows a clean check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson

from projector.store.event_store import EventStore
from projector.store.file_index import FileIndex
from shared.errors import EventValidationError, VersionConflictError
from shared.events import Event, parse_event

MAX_LINE_BYTES = 16 * 1024 * 1024  # far above any real event; past it a line is refused unread
REPORTED_PROBLEMS = 20  # a binary or foreign file would otherwise print a line per line
CHUNK_EVENTS = 2000
_CHUNK_BYTES = 8 * 1024 * 1024
_SKIP_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LineProblem:
    """Why line `line` (1-based) cannot be appended: `<field>: <reason>`."""

    line: int
    message: str


@dataclass(slots=True)
class FileCheck:
    """What a check found: counts, the first problems, and whether the file is text at all."""

    lines: int = 0
    bytes_read: int = 0
    new: int = 0
    duplicates: int = 0
    problem_count: int = 0
    problems: list[LineProblem] = field(default_factory=list)  # the first REPORTED_PROBLEMS
    not_text: bool = False  # the first line is not UTF-8 text: nothing after it was read

    @property
    def clean(self) -> bool:
        return not self.not_text and self.problem_count == 0

    def add_problems(self, found: list[LineProblem]) -> None:
        self.problem_count += len(found)
        room = REPORTED_PROBLEMS - len(self.problems)
        if room > 0:
            self.problems.extend(found[:room])


def check_file(
    handle: BinaryIO,
    store: EventStore,
    index: FileIndex,
    *,
    on_progress: Callable[[FileCheck], None] | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> FileCheck:
    """Check every line against the contract, the store and the lines before it.

    `on_progress` is called after each chunk of `chunk_events` lines (or 8 MiB).
    """
    check = FileCheck()
    chunk: list[tuple[int, bytes]] = []
    size = 0
    seen_text = False
    for number, line, consumed in numbered_lines(handle):
        check.lines = number
        check.bytes_read += consumed
        if line is None:
            check.add_problems([LineProblem(number, f"event: longer than {MAX_LINE_BYTES // 2**20} MiB")])
            continue
        if not line.strip():
            continue
        if not seen_text:
            if not is_text(line):
                check.not_text = True
                return check
            seen_text = True
        chunk.append((number, line))
        size += len(line)
        if len(chunk) >= chunk_events or size >= _CHUNK_BYTES:
            _check_chunk(chunk, store, index, check)
            chunk, size = [], 0
            if on_progress is not None:
                on_progress(check)
    if chunk:
        _check_chunk(chunk, store, index, check)
    if on_progress is not None:
        on_progress(check)
    return check


def numbered_lines(handle: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None, int]]:
    """(number, line, bytes consumed) for each line; the line is None when longer than `limit`.

    An over-long line is skipped to its end without being held in memory.
    """
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line, len(line)
            continue
        consumed = len(line)
        while not line.endswith(b"\n"):
            line = handle.readline(_SKIP_BYTES)
            if not line:
                break
            consumed += len(line)
        yield number, None, consumed


def is_text(line: bytes) -> bool:
    """Whether a line is UTF-8 text (no NUL byte, which no JSON text holds unescaped)."""
    if b"\x00" in line:
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_chunk(
    chunk: list[tuple[int, bytes]], store: EventStore, index: FileIndex, check: FileCheck
) -> None:
    parsed: list[tuple[int, Event]] = []
    problems: list[LineProblem] = []
    unreadable: dict[str, int] = {}  # stream -> first line of it in this chunk that did not parse
    for number, line in chunk:
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
    if unreadable:
        index.note_unreadable(unreadable)
    events = [event for _, event in parsed]
    ids = {event.id for event in events}
    streams = {event.stream for event in events}
    plan = store.check(events, known=index.events(ids), next_versions=index.next_versions(streams))
    first_unreadable = index.unreadable(streams) if plan.problems else {}
    for problem in plan.problems:
        number, event = parsed[problem.index]
        # A version after an unreadable line of the same stream is that line's fault, not its own.
        if (
            isinstance(problem.error, VersionConflictError)
            and first_unreadable.get(event.stream, number) < number
        ):
            continue
        problems.append(LineProblem(number, str(problem.error)))
    index.add(plan.new)
    check.new += len(plan.new)
    check.duplicates += plan.duplicates
    problems.sort(key=lambda problem: problem.line)
    check.add_problems(problems)
