"""`page` and `limit` query parameters: parsing, bounds and the clamp."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth.errors import InvalidParam

MAX_LIMIT = 200
# Past this a page number only ever means "past the end"; refusing it keeps offsets in 64 bits.
MAX_PAGE = 10**15
_MAX_DIGITS = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A validated page number and effective (clamped) limit."""

    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def parse_page_request(
    page: str | None,
    limit: str | None,
    *,
    default_limit: int,
    max_limit: int = MAX_LIMIT,
) -> PageRequest:
    """Parse `page` (≥ 1, default 1) and `limit` (≥ 1, above `max_limit` clamped to it).

    Absent means the default; anything else that is not a positive integer — an empty value
    included, as Dify's own integer parsing refuses it — is a 400 `invalid_param` naming the
    parameter. (Only `mode`, `name`, `tag` and `fields` treat an empty value as absent.)
    """
    page_number = _positive_int("page", page, default=1)
    if page_number > MAX_PAGE:
        raise InvalidParam("page", f"page must be at most {MAX_PAGE}")
    limit_number = min(_positive_int("limit", limit, default=default_limit), max_limit)
    return PageRequest(page=page_number, limit=limit_number)


def _positive_int(name: str, raw: str | None, *, default: int) -> int:
    if raw is None:
        return default
    text = raw.strip()
    # ASCII digits only: int() would also take "٣", "1_000" or "+1".
    if not text.isascii() or not text.isdigit():
        raise InvalidParam(name, f"{name} must be an integer greater than or equal to 1")
    digits = text.lstrip("0")
    if len(digits) > _MAX_DIGITS:
        # A huge number: only its size matters (clamped or refused by the caller).
        return 10**_MAX_DIGITS
    value = int(digits or "0")
    if value < 1:
        raise InvalidParam(name, f"{name} must be an integer greater than or equal to 1")
    return value
