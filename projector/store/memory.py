"""The store's reads over events held in memory: for folds that have every event at hand
(verification, the benchmarks, tests), answering as `EventStore` does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from shared.events import Event, StoredEvent
from shared.readmodel.owners import home_owner, named_account


class EventIndex:
    """Events by stream, with their owners decided as the store's append decides them."""

    def __init__(self, events: Iterable[StoredEvent] = ()) -> None:
        self.events: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}
        self._owners: dict[str, str] = {}
        self._authors: dict[str, set[str]] = {}
        for stored in events:
            self.add(stored)

    def add(self, stored: StoredEvent) -> StoredEvent:
        """Index one event (in position order); returns it with its stream's owner."""
        event = stored.event
        owner = self._owners.get(event.stream)
        if owner is None:
            owner = stored.owner or home_owner(event)
            self._owners[event.stream] = owner
        stored = replace(stored, owner=owner)
        self.events.append(stored)
        self._streams.setdefault(event.stream, []).append(stored)
        if event.type == "app.created" and event.workspace_id is not None:
            account = named_account(event)
            if account is not None:
                self._authors.setdefault(account, set()).add(event.workspace_id)
        return stored

    def record(self, events: Iterable[Event]) -> list[StoredEvent]:
        """Store `events` at the next positions, as an append would; returns them stored."""
        now = datetime.now(UTC)
        return [
            self.add(StoredEvent(position=len(self.events) + 1, event=event, recorded_at=now))
            for event in events
        ]

    def read_stream(
        self, stream: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        top = to_version if to_version is not None else 1 << 62
        found = [s for s in self._streams.get(stream, ()) if from_version <= s.event.version <= top]
        return sorted(found, key=lambda s: s.event.version)

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[StoredEvent]]:
        return {stream: self.read_stream(stream) for stream in streams}

    def authored_workspaces(self, account_ids: Sequence[str]) -> dict[str, set[str]]:
        return {a: set(self._authors[a]) for a in account_ids if a in self._authors}

    def membership_events(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[StoredEvent]]:
        found: dict[tuple[str, str], list[StoredEvent]] = {}
        for workspace_id, account_id in pairs:
            found[(workspace_id, account_id)] = [
                s
                for s in self.read_stream(f"workspace:{workspace_id}")
                if s.event.type == "workspace.created" or named_account(s.event) == account_id
            ]
        return found

    def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return [s for s in self.events if s.position > position][:limit]
