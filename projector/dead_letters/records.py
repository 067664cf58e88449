"""What a dead letter says: which event (or which body), why, and how often it failed."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import StoredEvent


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event, or a message body that is not one, that could not be applied, and why."""

    reason: str
    position: int | None = None
    event_id: str | None = None
    stream: str | None = None
    type: str | None = None
    attempts: int = 1
    # Kept only when there is no position to re-read the event by: the body is all there is.
    body: bytes | None = None

    @classmethod
    def for_event(cls, stored: StoredEvent, reason: str, *, attempts: int = 1) -> DeadLetter:
        """The dead letter of a stored event: position, id, stream and type, no body."""
        event = stored.event
        return cls(
            reason=reason,
            position=stored.position,
            event_id=event.id,
            stream=event.stream,
            type=event.type,
            attempts=attempts,
        )

    @property
    def key(self) -> str:
        """One dead letter per stored event (or per distinct body): a redelivery updates it."""
        if self.position is not None:
            return f"position:{self.position}"
        return f"body:{hashlib.sha256(self.body or b'').hexdigest()}"


@dataclass(frozen=True, slots=True)
class RecordedDeadLetter:
    """A dead letter as the dead-letter table holds it."""

    id: int
    reason: str
    position: int | None
    event_id: str | None
    stream: str | None
    type: str | None
    attempts: int
    body: bytes | None
    first_failed_at: datetime
    last_failed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view; a body is shown as text when it is UTF-8, else as base64."""
        body: str | None = None
        encoding: str | None = None
        if self.body is not None:
            try:
                body, encoding = self.body.decode(), "utf-8"
            except UnicodeDecodeError:
                body, encoding = base64.b64encode(self.body).decode(), "base64"
        return {
            "id": self.id,
            "position": self.position,
            "event_id": self.event_id,
            "stream": self.stream,
            "type": self.type,
            "reason": self.reason,
            "attempts": self.attempts,
            "first_failed_at": self.first_failed_at.isoformat(),
            "last_failed_at": self.last_failed_at.isoformat(),
            "body": body,
            "body_encoding": encoding,
        }
