"""The pagination envelope `{page, limit, total, has_more, data}`, used by every list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PaginationEnvelope(Generic[T]):
    """One page of a list: `total` counts the whole filtered set, `limit` is the effective one."""

    page: int
    limit: int
    total: int
    data: Sequence[T]

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total

    def render(self, encode: Callable[[T], bytes] = orjson.dumps) -> bytes:
        """The envelope as JSON bytes, each item rendered by `encode`."""
        return self._frame(b",".join(encode(item) for item in self.data))

    def _frame(self, items: bytes) -> bytes:
        # Python ints print as JSON numbers of any size; orjson would refuse one above 64 bits.
        has_more = "true" if self.has_more else "false"
        head = (
            f'{{"page":{self.page},"limit":{self.limit},"total":{self.total},"has_more":{has_more},"data":['
        )
        return head.encode() + items + b"]}"


def render_spliced(envelope: PaginationEnvelope[bytes]) -> bytes:
    """Render an envelope whose items are already JSON bytes, without decoding them."""
    return envelope._frame(b",".join(envelope.data))
