"""The event envelope: parsing with field-named errors, and the orjson round trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.errors import EventValidationError
from shared.events import values as v
from shared.events.payloads import Payload, is_known_type, parse_payload

ENVELOPE_FIELDS = ("id", "type", "schema", "stream", "version", "workspace_id", "occurred_at", "data")
STREAM_KINDS = ("workspace", "account", "app", "session")


@dataclass(frozen=True, slots=True)
class Event:
    """One app-change event as the contract defines it. `data` is kept exactly as written."""

    id: str
    type: str
    stream: str
    version: int
    workspace_id: str | None
    occurred_at: str
    data: dict[str, Any] = field(hash=False, compare=True)
    schema: int = 1
    # Why the store could not read this event's data (a row written around the append, by
    # hand or by a faulty producer); None for every sound event. Such an event is poison
    # wherever it goes: its payload never parses, so it is dead-lettered, never applied.
    unreadable: str | None = None
    # The typed payload once parsed: validation runs once per event, not once per reader.
    _parsed: Payload | None = field(default=None, init=False, compare=False, repr=False, hash=False)

    @property
    def stream_kind(self) -> str:
        return self.stream.split(":", 1)[0]

    @property
    def stream_id(self) -> str:
        return self.stream.split(":", 1)[1]

    def payload(self) -> Payload:
        """The typed, upcast payload; raises EventValidationError for a bad or unknown type."""
        parsed = self._parsed
        if parsed is None:
            if self.unreadable is not None:
                raise EventValidationError("data", self.unreadable)
            parsed = parse_payload(self.type, self.schema, self.data)
            object.__setattr__(self, "_parsed", parsed)  # a cache, not a change of the event
        return parsed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "schema": self.schema,
            "stream": self.stream,
            "version": self.version,
            "workspace_id": self.workspace_id,
            "occurred_at": self.occurred_at,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store returns it: with its global position and recording time."""

    position: int
    event: Event
    recorded_at: datetime
    # The owner of the event's stream (shared/readmodel/owners.py), as the store decided it
    # at append; None where nothing decided it yet (the writer then asks the stream's first
    # event).
    owner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = self.event.to_dict()
        body["position"] = self.position
        body["recorded_at"] = self.recorded_at.isoformat()
        return body


def parse_event(raw: Any, *, allow_unknown_type: bool = False) -> Event:
    """Check a decoded JSON object against the contract and build an Event.

    With `allow_unknown_type` (the projector's read path) a type this code does not know is
    accepted at the envelope level so it can be recorded and skipped; appends refuse it.
    """
    if not isinstance(raw, dict):
        raise EventValidationError("event", "expected a JSON object")
    for key in raw:
        if key not in ENVELOPE_FIELDS:
            raise EventValidationError(str(key), "unknown top-level field")
    for key in ENVELOPE_FIELDS:
        if key not in raw and key != "schema":
            raise EventValidationError(key, "is required")
    event_id = v.require_uuid("id", raw["id"])
    event_type = v.require_text("type", raw["type"])
    schema = v.require_int("schema", raw.get("schema", 1), minimum=1)
    stream = v.require_text("stream", raw["stream"])
    kind, _, stream_uuid = stream.partition(":")
    if kind not in STREAM_KINDS or not v.is_uuid(stream_uuid):
        raise EventValidationError(
            "stream", f"expected <kind>:<uuid> with kind one of {', '.join(STREAM_KINDS)}"
        )
    stream = f"{kind}:{stream_uuid.lower()}"
    version = v.require_int("version", raw["version"], minimum=1)
    workspace_id = v.require_uuid("workspace_id", raw["workspace_id"], nullable=True)
    occurred_at = v.require_text("occurred_at", raw["occurred_at"])
    v.require_timestamp("occurred_at", occurred_at)
    data = v.require_object("data", raw["data"])
    assert event_id is not None
    assert data is not None

    known = is_known_type(event_type)
    if not known and not allow_unknown_type:
        raise EventValidationError("type", f"unknown event type {event_type!r}")
    type_kind = event_type.split(".", 1)[0]
    if known and type_kind != kind:
        raise EventValidationError("stream", f"a {event_type} event belongs on a {type_kind} stream")
    if kind in ("workspace", "app") and workspace_id is None:
        raise EventValidationError("workspace_id", f"is required for {kind} events")
    if kind in ("account", "session") and workspace_id is not None:
        raise EventValidationError("workspace_id", f"must be null for {kind} events")
    if kind == "workspace" and workspace_id != stream_uuid.lower():
        raise EventValidationError("workspace_id", "must equal the workspace stream's id")

    event = Event(
        id=event_id,
        type=event_type,
        schema=schema,
        stream=stream,
        version=version,
        workspace_id=workspace_id,
        occurred_at=occurred_at,
        data=data,
    )
    if known:
        event.payload()  # validates data, naming the field
    return event


def decode_event(body: bytes | str, *, allow_unknown_type: bool = False) -> Event:
    """Parse one JSON text into an Event; bad JSON raises EventValidationError('event', ...)."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EventValidationError("event", f"not valid JSON ({exc.msg})") from None
    return parse_event(raw, allow_unknown_type=allow_unknown_type)


def encode_event(event: Event) -> bytes:
    return orjson.dumps(event.to_dict())
