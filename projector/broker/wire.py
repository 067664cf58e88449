"""The message body: a stored event as orjson, and back, naming the field that is wrong.

Beside the event, a body names the owner of the event's stream (`owner`) and the owners
this message is for (`to`, those of its partition; shared/readmodel/owners.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.errors import EventValidationError
from shared.events import StoredEvent, parse_event

CONTENT_TYPE = "application/json"
OWNER = "owner"
TO = "to"
# Beside `data: null`, why the store could not read an event's data: the consumer
# dead-letters such a message by its position, like any other invalid event.
UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Delivered:
    """A decoded message: the event, and the owners it was sent to (empty: its own)."""

    stored: StoredEvent
    to: tuple[str, ...]


def encode(stored: StoredEvent, to: tuple[str, ...] = ()) -> bytes:
    """The body of one message: the event's fields plus `position`, `recorded_at`, its
    stream's `owner` and the owners it is for."""
    body = stored.to_dict()
    if stored.event.unreadable is not None:
        body["data"] = None
        body[UNREADABLE] = stored.event.unreadable
    body[OWNER] = stored.owner
    body[TO] = list(to)
    return orjson.dumps(body)


def decode(body: bytes) -> Delivered:
    """Parse a message body back into the StoredEvent and its addressees; raises
    EventValidationError."""
    raw = _load(body)
    position = raw.pop("position", None)
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise EventValidationError("position", "expected a positive integer")
    unreadable = raw.pop(UNREADABLE, None)
    if unreadable is not None:
        raise EventValidationError("data", str(unreadable)[:200])
    owner = _owner(OWNER, raw.pop(OWNER, None))
    to = raw.pop(TO, None) or []
    if not isinstance(to, list):
        raise EventValidationError(TO, "expected a list of owners")
    recorded_at = _timestamp(raw.pop("recorded_at", None))
    # Unknown types are accepted here: the writer records and skips them (events.md).
    event = parse_event(raw, allow_unknown_type=True)
    stored = StoredEvent(position=position, event=event, recorded_at=recorded_at, owner=owner)
    return Delivered(stored, tuple(_owner(TO, item) or "" for item in to))


@dataclass(frozen=True, slots=True)
class Identity:
    """What can be read of a body that does not decode, to name it in a dead letter."""

    position: int | None = None
    event_id: str | None = None
    stream: str | None = None
    type: str | None = None


def identify(body: bytes) -> Identity:
    """Best effort: position, id, stream and type of a body, each None when not readable."""
    try:
        raw = _load(body)
    except EventValidationError:
        return Identity()
    position = raw.get("position")
    return Identity(
        position=position if isinstance(position, int) and not isinstance(position, bool) else None,
        event_id=_text(raw.get("id")),
        stream=_text(raw.get("stream")),
        type=_text(raw.get("type")),
    )


def _owner(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or ":" not in value:
        raise EventValidationError(field, "expected an owner, <kind>:<id>")
    return value


def _load(body: bytes) -> dict[str, Any]:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EventValidationError("event", f"not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise EventValidationError("event", "expected a JSON object")
    return raw


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise EventValidationError("recorded_at", "expected an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventValidationError("recorded_at", "expected an ISO 8601 timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _text(value: object) -> str | None:
    return value[:200] if isinstance(value, str) else None
