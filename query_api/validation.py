"""Query parameters checked the way Dify's request models check them, with the same 422.

Dify validates a route's query with a pydantic model after its auth pipeline: every problem
becomes one `{type, loc, msg}` entry of `details` (fields in the model's order, then each
unknown parameter where the model forbids extras), under `Request validation failed`.
A repeated parameter counts with its first value, as Werkzeug's `to_dict()` keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.auth.errors import VALIDATION_FAILED, Unprocessable

# pydantic's lax integer from a string: surrounding whitespace, a sign, digits with single
# underscores between them, and a fraction only when it is all zeros ("2.0" is 2).
_INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?")
_EXTRA_FORBIDDEN = "Extra inputs are not permitted"
_INT_PARSING = ("int_parsing", "Input should be a valid integer, unable to parse string as an integer")


@dataclass(frozen=True, slots=True)
class Integer:
    """An integer with optional bounds."""

    default: int
    ge: int | None = None
    le: int | None = None

    def check(self, raw: str | None) -> tuple[Any, tuple[str, str] | None]:
        if raw is None:
            return self.default, None
        if raw.isdigit() and raw.isascii():  # the usual "20": no regex, no stripping
            value = int(raw)
        else:
            text = raw.strip()
            if _INTEGER.fullmatch(text) is None:
                return None, _INT_PARSING
            try:
                value = int(text.split(".", 1)[0])
            except ValueError:  # more digits than Python converts: no page of any list
                return None, _INT_PARSING
        if self.ge is not None and value < self.ge:
            return None, ("greater_than_equal", f"Input should be greater than or equal to {self.ge}")
        if self.le is not None and value > self.le:
            return None, ("less_than_equal", f"Input should be less than or equal to {self.le}")
        return value, None


@dataclass(frozen=True, slots=True)
class Choice:
    """One of an enum's values; absent means None."""

    values: tuple[str, ...]

    def check(self, raw: str | None) -> tuple[Any, tuple[str, str] | None]:
        if raw is None or raw in self.values:
            return raw, None
        return None, ("enum", "Input should be " + _alternatives(self.values))


@dataclass(frozen=True, slots=True)
class Text:
    """A string of at most `max_length` characters; absent means None."""

    max_length: int

    def check(self, raw: str | None) -> tuple[Any, tuple[str, str] | None]:
        if raw is not None and len(raw) > self.max_length:
            unit = "character" if self.max_length == 1 else "characters"
            return None, ("string_too_long", f"String should have at most {self.max_length} {unit}")
        return raw, None


@dataclass(frozen=True, slots=True)
class Members:
    """A comma-separated subset of `allowed`; absent or empty means None (all of them)."""

    allowed: tuple[str, ...]

    def check(self, raw: str | None) -> tuple[Any, tuple[str, str] | None]:
        if not raw:
            return None, None
        chosen = {part.strip() for part in raw.split(",") if part.strip()}
        unknown = sorted(chosen.difference(self.allowed))
        if unknown:
            return None, ("value_error", f"Value error, unknown field(s): {unknown!r}")
        return frozenset(chosen), None


Field = Integer | Choice | Text | Members


@dataclass(frozen=True, slots=True)
class RequestModel:
    """A route's query model: its fields in order, and whether unknown parameters are refused."""

    fields: tuple[tuple[str, Field], ...]
    forbid_extra: bool

    def validate(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The values by field name, or `Unprocessable` listing every problem."""
        values: dict[str, Any] = {}
        details: list[dict[str, Any]] | None = None
        for name, field in self.fields:
            value, problem = field.check(params.get(name))
            if problem is not None:
                details = details or []
                details.append({"type": problem[0], "loc": [name], "msg": problem[1]})
            values[name] = value
        if self.forbid_extra:
            for name in params:
                if name not in values:
                    details = details or []
                    details.append(
                        {"type": "extra_forbidden", "loc": [name], "msg": "Extra inputs are not permitted"}
                    )
        if details:
            raise Unprocessable(VALIDATION_FAILED, details=details)
        return values


def _alternatives(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def first_values(params: Mapping[str, Any]) -> dict[str, str]:
    """One value per parameter: the first, as Dify's request parsing keeps it."""
    return {name: value if isinstance(value, str) else value[0] for name, value in params.items()}
