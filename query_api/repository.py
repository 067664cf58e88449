"""The query side's access to the read model: one method per kind of read, driver errors translated."""

from __future__ import annotations

import threading
from typing import Any

import redis.exceptions

from query_api.queries import AccountQuery, AppQuery, AppsQuery, Query, SessionsQuery
from shared.auth.subjects import EXTERNAL_SSO
from shared.errors import ReadModelError
from shared.readmodel import keys
from shared.readmodel.reads import (
    AccountRead,
    AppPageRead,
    AppRead,
    Head,
    NotBuiltError,
    ReadModelReader,
    SessionPageRead,
)

Read = AppPageRead | AppRead | AccountRead | SessionPageRead


class ReadModelUnavailableError(ReadModelError):
    """Redis could not answer a read (down, unreachable, refusing the script, or holding no
    read model yet)."""


class Repository:
    """Reads the live generation: each read is one script call (two for an SSO caller's sessions)."""

    def __init__(self, redis: Any) -> None:
        self._reader = ReadModelReader(redis)
        self._lock = threading.Lock()
        self._position = 0

    @property
    def last_position(self) -> int:
        """The highest watermark any read of this process has seen (0 before the first)."""
        return self._position

    def read(self, query: Query, token_hash: str, now_ms: int) -> Read:
        """Everything the request behind `query` needs, for the caller with `token_hash`."""
        try:
            result = self._dispatch(query, token_hash, now_ms)
        except redis.exceptions.RedisError as exc:
            raise ReadModelUnavailableError(f"the read model could not be read: {exc}") from exc
        except NotBuiltError as exc:
            raise ReadModelUnavailableError(str(exc)) from exc
        self._saw(result.head)
        return result

    def _dispatch(self, query: Query, token_hash: str, now_ms: int) -> Read:
        reader = self._reader
        match query:
            case AppsQuery():
                return reader.app_page(
                    token_hash,
                    now_ms,
                    workspace_id=query.workspace_id,
                    mode=query.mode,
                    tag=query.tag,
                    name_needle=query.name_needle,
                    offset=query.page.offset,
                    limit=query.page.limit,
                )
            case AppQuery():
                return reader.app(token_hash, now_ms, query.app_id, query.fields)
            case AccountQuery():
                return reader.account(token_hash, now_ms)
            case SessionsQuery():
                return self._sessions(query, token_hash, now_ms)

    def _sessions(self, query: SessionsQuery, token_hash: str, now_ms: int) -> SessionPageRead:
        page = query.page
        result = self._reader.session_page(
            token_hash, now_ms, sso_subject="", offset=page.offset, limit=page.limit
        )
        token = result.head.token
        if token is None or token.subject_type != EXTERNAL_SSO:
            return result
        # An SSO subject's set is named by a digest of its email and issuer, which only the
        # token's own record tells: a second round trip, for these callers only.
        subject = keys.sso_subject(token.subject_email, token.subject_issuer)
        return self._reader.session_page(
            token_hash, now_ms, sso_subject=subject, offset=page.offset, limit=page.limit
        )

    def _saw(self, head: Head) -> None:
        if head.position > self._position:
            with self._lock:
                self._position = max(self._position, head.position)
