"""The project's error vocabulary, shared by the store, the projector and the API."""

from __future__ import annotations


class ReadModelError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigurationError(ReadModelError):
    """A setting that cannot work; the message names the variable."""


class EventValidationError(ReadModelError):
    """An event that breaks the contract; `field` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class StoreError(ReadModelError):
    """The event store refused or failed an operation."""


class VersionConflictError(StoreError):
    """An appended version is not the stream's next one (and not an exact duplicate)."""

    def __init__(self, stream: str, version: int, expected: int) -> None:
        super().__init__(
            f"version: stream {stream} expects version {expected}, got {version}",
        )
        self.stream = stream
        self.version = version
        self.expected = expected


class DuplicateIdConflictError(StoreError):
    """An event id already stored with different content."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"id: event {event_id} is already stored with different content")
        self.event_id = event_id


class StoreUnavailableError(StoreError):
    """The database could not be reached; transient, worth a retry."""
