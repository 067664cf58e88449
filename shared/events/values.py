"""Checks for the value kinds the contract uses; each raises EventValidationError naming the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from shared.errors import EventValidationError

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$",
)


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


def require_str(field: str, value: Any, *, nullable: bool = False, max_len: int | None = None) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise EventValidationError(field, f"expected a string, got {_kind(value)}")
    if max_len is not None and len(value) > max_len:
        raise EventValidationError(field, f"longer than {max_len} characters")
    return value


def require_text(field: str, value: Any) -> str:
    text = require_str(field, value)
    assert text is not None
    return text


def require_uuid(field: str, value: Any, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not is_uuid(value):
        raise EventValidationError(field, f"expected a UUID string, got {_show(value)}")
    return str(value).lower()


def require_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise EventValidationError(field, f"expected true or false, got {_kind(value)}")
    return value


def require_int(field: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventValidationError(field, f"expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise EventValidationError(field, f"must be ≥ {minimum}, got {value}")
    return value


def require_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise EventValidationError(field, f"expected one of {', '.join(choices)}, got {_show(value)}")
    return str(value)


def require_timestamp(field: str, value: Any, *, nullable: bool = False) -> datetime | None:
    """Parse an RFC 3339 timestamp with an offset into an aware UTC datetime."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise EventValidationError(field, f"expected an RFC 3339 timestamp with offset, got {_show(value)}")
    text = value.replace("z", "Z").replace("t", "T")
    # fromisoformat takes at most microseconds: cut nanosecond fractions down.
    match = re.match(r"^(.*\.\d{6})\d+(.*)$", text)
    if match:
        text = match.group(1) + match.group(2)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EventValidationError(field, f"not a valid timestamp ({exc})") from None
    return parsed.astimezone(UTC)


def require_object(field: str, value: Any, *, nullable: bool = False) -> dict[str, Any] | None:
    if value is None and nullable:
        return None
    if not isinstance(value, dict):
        raise EventValidationError(field, f"expected an object, got {_kind(value)}")
    return value


def require_list(field: str, value: Any, *, nullable: bool = False) -> list[Any] | None:
    if value is None and nullable:
        return None
    if not isinstance(value, list):
        raise EventValidationError(field, f"expected a list, got {_kind(value)}")
    return value


def require_str_list(field: str, value: Any) -> tuple[str, ...]:
    items = require_list(field, value)
    assert items is not None
    for index, item in enumerate(items):
        require_str(f"{field}[{index}]", item)
    return tuple(items)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
