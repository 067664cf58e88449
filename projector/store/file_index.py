"""What a check has seen of an events file so far, kept on disk so memory holds one chunk.

A private SQLite database that is deleted when closed: the events of the file that would be
new (in file order, by id, for the append that follows a clean check and for telling a
repeated id apart from a conflicting one), each stream's next version after the lines read
so far, and the first line of each stream that could not be read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence

import orjson

from shared.events import Event, encode_event

# SQLite's limit on host parameters is 32766 (999 before 3.32); a check's chunk stays below.
_LOOKUP_CHUNK = 900
_SCHEMA = (
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body BLOB NOT NULL)",
    "CREATE TABLE streams (stream TEXT PRIMARY KEY, next INTEGER, unreadable INTEGER)",
)


class FileIndex:
    """The file's new events, its streams' next versions and unreadable lines, on disk."""

    def __init__(self) -> None:
        # An empty name is SQLite's private temporary database: on disk, gone on close.
        self._db = sqlite3.connect("")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FileIndex:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def add(self, events: Sequence[Event]) -> None:
        """Keep events (new to the store and the file) and move their streams' next versions."""
        self._db.executemany(
            "INSERT INTO events (id, body) VALUES (?, ?)",
            [(event.id, encode_event(event)) for event in events],
        )
        following: dict[str, int] = {}
        for event in events:  # the version after the last one seen, as the planner continues
            following[event.stream] = event.version + 1
        self._db.executemany(
            "INSERT INTO streams (stream, next) VALUES (?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET next = excluded.next",
            list(following.items()),
        )
        self._count += len(events)

    def events(self, ids: Iterable[str]) -> dict[str, Event]:
        """The kept events among `ids`."""
        found: dict[str, Event] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT id, body FROM events WHERE id IN ({marks})", chunk)  # noqa: S608 (placeholders only)
            found.update((event_id, _decode(body)) for event_id, body in rows)
        return found

    def next_versions(self, streams: Iterable[str]) -> dict[str, int]:
        """The next version of each stream the file has had an event of, among `streams`."""
        return dict(self._streams("next", streams))

    def note_unreadable(self, first_lines: Mapping[str, int]) -> None:
        """Remember the first unreadable line of each stream (an earlier one is kept)."""
        self._db.executemany(
            "INSERT INTO streams (stream, unreadable) VALUES (?, ?) ON CONFLICT (stream) "
            "DO UPDATE SET unreadable = coalesce(unreadable, excluded.unreadable)",
            list(first_lines.items()),
        )

    def unreadable(self, streams: Iterable[str]) -> dict[str, int]:
        """The first unreadable line of each of `streams` that has one."""
        return dict(self._streams("unreadable", streams))

    def batches(self, size: int) -> Iterator[list[Event]]:
        """The kept events in file order, `size` at a time."""
        last = 0
        while True:
            rows = self._db.execute(
                "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (last, size)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [_decode(body) for _, body in rows]

    def _streams(self, column: str, streams: Iterable[str]) -> Iterator[tuple[str, int]]:
        for chunk in _chunks(list(streams)):
            marks = ",".join("?" * len(chunk))
            statement = (
                f"SELECT stream, {column} FROM streams WHERE {column} IS NOT NULL AND stream IN ({marks})"  # noqa: S608 (a column of ours)
            )
            yield from self._db.execute(statement, chunk)


def _decode(body: bytes) -> Event:
    # Written by this index from an event the contract accepted: no need to check it again.
    return Event(**orjson.loads(body))


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _LOOKUP_CHUNK):
        yield items[start : start + _LOOKUP_CHUNK]
