"""Events before they have a version: what translation produces and the assigner completes."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared.events import Event, parse_event

# Event ids are uuid5 names under this namespace, so translating the same source twice
# yields the same ids and the store recognises a retried batch.
CAPTURE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dify-readmodel:capture")

# The types that start a stream; every other type needs its stream to exist already.
OPENING_TYPES = frozenset({"workspace.created", "account.created", "app.created", "session.issued"})


@dataclass(frozen=True, slots=True)
class Draft:
    """A contract event still missing its stream version."""

    id: str
    type: str
    stream: str
    workspace_id: str | None
    occurred_at: str
    data: dict[str, Any] = field(hash=False)

    @property
    def opens_stream(self) -> bool:
        return self.type in OPENING_TYPES

    def with_version(self, version: int) -> Event:
        """The finished event, checked against the contract (raises EventValidationError)."""
        return parse_event(
            {
                "id": self.id,
                "type": self.type,
                "schema": 1,
                "stream": self.stream,
                "version": version,
                "workspace_id": self.workspace_id,
                "occurred_at": self.occurred_at,
                "data": self.data,
            },
        )


def event_id(source: str, event_type: str, stream: str, ordinal: int = 0) -> str:
    """The id of the `ordinal`-th `event_type` event on `stream` made from `source`.

    Naming the type and stream (not just a running index) keeps the id of one event stable
    even when a retry, seeing newer Dify state, makes more or fewer other events.
    """
    return str(uuid.uuid5(CAPTURE_NAMESPACE, f"{source}|{event_type}|{stream}|{ordinal}"))


class DraftList:
    """Collects the drafts made from one source (a change, a snapshot row) with their ids."""

    def __init__(self, source: str, occurred_at: str) -> None:
        self.source = source
        self.occurred_at = occurred_at
        self.drafts: list[Draft] = []
        self._seen: Counter[tuple[str, str]] = Counter()

    def add(
        self,
        event_type: str,
        stream: str,
        workspace_id: str | None,
        data: dict[str, Any],
        *,
        occurred_at: str | None = None,
    ) -> None:
        ordinal = self._seen[(event_type, stream)]
        self._seen[(event_type, stream)] += 1
        self.drafts.append(
            Draft(
                id=event_id(self.source, event_type, stream, ordinal),
                type=event_type,
                stream=stream,
                workspace_id=workspace_id,
                occurred_at=occurred_at or self.occurred_at,
                data=data,
            ),
        )
