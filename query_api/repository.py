"""The query side's access to the read model: one read per request, driver errors translated."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from query_api.queries import AccountQuery, AppQuery, AppsQuery, MembersQuery, Query, SessionsQuery
from shared.auth.errors import TOKEN_BUDGET_SPENT, TooManyRequests
from shared.errors import ReadModelError
from shared.readmodel.reads import (
    AccountRead,
    AppPageRead,
    AppRead,
    Head,
    MembersRead,
    NotBuiltError,
    RateLimited,
    ReadModelReader,
    SessionPageRead,
)

Read = AppPageRead | AppRead | AccountRead | SessionPageRead | MembersRead


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, as the read needs it: the bearer's SHA-256 and the request time (epoch ms)."""

    token_hash: str
    now_ms: int


class ReadModelUnavailableError(ReadModelError):
    """Redis could not answer a read (down, unreachable, refusing the script, or holding no
    read model yet)."""


class Repository:
    """Reads the live generation: each read is one script call (one round trip on one Redis).

    With a `token_budget` (Dify's per-token rate limit, per minute) the read spends from the
    caller's budget first, and answers a 429 once it is spent.
    """

    def __init__(self, redis: Any, *, token_budget: int = 0) -> None:
        self._reader = ReadModelReader(redis, token_budget=token_budget)
        self._lock = threading.Lock()
        self._position = 0

    @property
    def last_position(self) -> int:
        """The highest watermark any read of this process has seen (0 before the first)."""
        return self._position

    def read(self, query: Query, caller: Caller) -> Read:
        """Everything the request behind `query` needs, for `caller`."""
        try:
            result = self._dispatch(query, caller.token_hash, caller.now_ms)
        except redis.exceptions.RedisError as exc:
            raise ReadModelUnavailableError(f"the read model could not be read: {exc}") from exc
        except NotBuiltError as exc:
            raise ReadModelUnavailableError(str(exc)) from exc
        except RateLimited as exc:
            raise TooManyRequests(TOKEN_BUDGET_SPENT, retry_after=exc.wait) from None
        self._saw(result.head)
        return result

    def _dispatch(self, query: Query, token_hash: str, now_ms: int) -> Read:
        reader = self._reader
        match query:
            case AppsQuery(page=page):
                return reader.app_page(
                    token_hash,
                    now_ms,
                    workspace_id=query.workspace_id,
                    offset=None if page is None else page.offset,
                    limit=0 if page is None else page.limit,
                    mode=query.mode,
                    tag=query.tag,
                    name_needle=query.name_needle,
                    exact_app_id=query.exact_app_id,
                )
            case AppQuery():
                return reader.app(token_hash, now_ms, query.app_id, query.fields)
            case AccountQuery():
                return reader.account(token_hash, now_ms)
            case SessionsQuery(page=page):
                if page is None:
                    return reader.session_page(token_hash, now_ms, offset=None)
                return reader.session_page(token_hash, now_ms, offset=page.offset, limit=page.limit)
            case MembersQuery():
                return reader.members(token_hash, now_ms, query.workspace_id, wanted=query.page is not None)

    def _saw(self, head: Head) -> None:
        if head.position > self._position:
            with self._lock:
                self._position = max(self._position, head.position)
