"""Checking and appending a JSON Lines file of events in bounded memory, in two passes."""

from __future__ import annotations

import io
import tracemalloc
import uuid

import pytest

from projector.store import EventStore
from projector.store.file_index import FileIndex
from projector.store.jsonl import FileCheck, check_file, numbered_lines
from shared.errors import VersionConflictError
from shared.events import Event, encode_event
from tests.unit.test_cli import workspace_events


def jsonl(events: list[Event]) -> io.BytesIO:
    return io.BytesIO(b"".join(encode_event(event) + b"\n" for event in events))


def check(store: EventStore, data: io.BytesIO, chunk_events: int = 2000) -> tuple[FileCheck, list[Event]]:
    with FileIndex() as index:
        found = check_file(data, store, index, chunk_events=chunk_events)
        kept = [event for batch in index.batches(7) for event in batch]
    return found, kept


def test_lines_of_another_chunk_are_remembered(event_store: EventStore) -> None:
    stored = workspace_events(1)
    event_store.append(stored)
    events = workspace_events(30, workspace_id=stored[0].workspace_id, start=2)
    repeated = events[3]
    conflicting = Event(**{**events[5].to_dict(), "data": {"name": "other"}})
    stale = Event(**{**events[0].to_dict(), "id": str(uuid.uuid4()), "version": 9})
    lines = [*events, repeated, stored[0], conflicting, stale]

    found, kept = check(event_store, jsonl(lines), chunk_events=4)

    assert (found.new, found.duplicates) == (31, 2)  # the stale line counts as new, then refused
    assert [(problem.line, problem.message) for problem in found.problems] == [
        (33, f"id: event {conflicting.id} is already stored with different content"),
        (34, str(VersionConflictError(events[0].stream, 9, 32))),
    ]
    assert kept[:30] == events


def test_a_clean_file_keeps_its_new_events_in_order(event_store: EventStore) -> None:
    events = workspace_events(25)
    event_store.append(events[:5])

    found, kept = check(event_store, jsonl(events), chunk_events=3)

    assert found.clean
    assert (found.lines, found.new, found.duplicates) == (25, 20, 5)
    assert kept == events[5:]


def test_progress_is_reported_after_each_chunk(event_store: EventStore) -> None:
    seen: list[int] = []
    with FileIndex() as index:
        check_file(
            jsonl(workspace_events(10)),
            event_store,
            index,
            chunk_events=4,
            on_progress=lambda c: seen.append(c.lines),
        )
    assert seen == [4, 8, 10]


def test_only_the_first_problems_are_kept_and_all_are_counted(event_store: EventStore) -> None:
    found, _ = check(event_store, io.BytesIO(b"[1]\n" * 5000))
    assert found.problem_count == 5000
    assert len(found.problems) == 20
    assert found.problems[0].message == "event: expected a JSON object"


@pytest.mark.parametrize(
    "head", [b"\x89PNG\r\n\x1a\n", b"\x7fELF\x02\x01\x01\x00\n", b"\x1f\x8b\x08\x00\xff\n"]
)
def test_a_binary_file_is_not_text(event_store: EventStore, head: bytes) -> None:
    found, _ = check(event_store, io.BytesIO(head + b"\x00\xff" * 1000 + b"\n" * 1000))
    assert found.not_text
    assert found.problem_count == 0
    assert found.lines == 1  # nothing after the first line was read


def test_a_line_past_the_limit_is_skipped_unread() -> None:
    data = io.BytesIO(b"short\n" + b"y" * 50 + b"\nlast")
    assert list(numbered_lines(data, limit=10)) == [(1, b"short\n", 6), (2, None, 51), (3, b"last", 4)]


def test_checking_holds_one_chunk_whatever_the_file_size(event_store: EventStore) -> None:
    def peak(count: int) -> int:
        data = jsonl(workspace_events(count))
        with FileIndex() as index:
            tracemalloc.start()
            try:
                check_file(data, event_store, index, chunk_events=100)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    small, large = peak(400), peak(2000)
    assert large < 1.5 * small, (small, large)


def test_append_batches_is_one_transaction(event_store: EventStore) -> None:
    events = workspace_events(6)
    clash = Event(**{**events[0].to_dict(), "id": str(uuid.uuid4())})  # version 1 again
    sizes: list[int] = []

    with pytest.raises(VersionConflictError):
        event_store.append_batches(lambda: [events[:3], events[3:], [clash]], on_batch=sizes.append)

    assert event_store.count() == 0
    assert sizes == [3, 3]
    result = event_store.append_batches(lambda: [events[:3], events[2:]])
    assert (result.new, result.duplicates) == (6, 1)
    assert [stored.event for stored in event_store.iter_all()] == events
