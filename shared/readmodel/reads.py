"""The read side of the Redis layout: one Lua round trip per request, decoded into records.

Each read script starts with `lua/read_prelude.lua` (live generation, watermark, the
caller's token and account status) and adds what its route needs, so a request costs one
EVALSHA. Data comes back only for a caller the script can already tell is allowed; the
API still decides every refusal itself, in Dify's order, from the returned facts.
On a Redis Cluster the same scripts run in their data's slot, after one round trip for the
caller (`cluster_reads.py`), and answer in the same shape.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from shared.auth.chain import AppFacts, WorkspaceFacts
from shared.auth.subjects import TokenRecord
from shared.errors import ReadModelError
from shared.readmodel import keys
from shared.readmodel.cluster_reads import LIMITED, NOT_SPENDING, ClusterScripts
from shared.readmodel.connection import is_cluster
from shared.readmodel.documents import info_from_row, summary_from_row
from shared.readmodel.read_scripts import (
    ACCOUNT,
    APP,
    APPS,
    MEMBERS,
    RATE_WINDOW_SECONDS,
    SCRIPTS,
    SESSIONS,
    read_script,
)
from shared.readmodel.script_layouts import (
    AccountReply,
    AppReply,
    AppsReply,
    HeadReply,
    MembersReply,
    SessionsReply,
)

# Fields of an app's hash, by what they hold.
SUMMARY = "summary"
PARAMETERS = "params"
INFO = "info"
INPUT_SCHEMA = "schema"

# A stored row, summary or info start begins with its author's id (a UUID), whose name the
# workspace keeps; an author it does not know is shown as null.
AUTHOR_ID = 36
NULL = b"null"

# Lua offsets are doubles: past 2**53 a page can only be past the end anyway.
_MAX_OFFSET = 2**53


class NotBuiltError(ReadModelError):
    """There is no live generation to read: the read model has not been built yet."""


class RateLimited(ReadModelError):
    """The caller's token has spent its rate budget; `wait` seconds until it has room."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"the token's rate budget is spent for {wait}s")
        self.wait = wait


def counted_member(now_s: int) -> str:
    """A request's member in a rate bucket: unique, and readable as Dify writes it."""
    return f"{now_s}:{secrets.token_urlsafe(8)}"


@dataclass(frozen=True, slots=True)
class Head:
    """What every read returns first: the watermark read and the caller's token."""

    position: int
    token: TokenRecord | None


@dataclass(frozen=True, slots=True)
class AppPageRead:
    """A page of a workspace's listed app rows, with the workspace's auth facts.

    `tag_known` says whether the tag filter names a tag some listed app carries.
    """

    head: Head
    workspace: WorkspaceFacts
    total: int
    rows: tuple[bytes, ...]
    tag_known: bool


@dataclass(frozen=True, slots=True)
class AppRead:
    """One app's auth facts and the document fields asked for (None: not stored)."""

    head: Head
    app: AppFacts
    fields: dict[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Membership:
    """One of an account's workspaces, as /workspaces and /account show it."""

    workspace_id: str
    role: str
    joined_position: int
    name: str | None
    status: str | None
    created_at: str | None


@dataclass(frozen=True, slots=True)
class AccountRead:
    """The caller's account profile, memberships (join order) and current workspace."""

    head: Head
    name: str | None
    email: str | None
    memberships: tuple[Membership, ...]
    current_workspace_id: str | None


@dataclass(frozen=True, slots=True)
class SessionPageRead:
    """A page of the caller's live session rows."""

    head: Head
    total: int
    rows: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Member:
    """A workspace member as GET /workspaces/{id}/members shows it."""

    account_id: str
    role: str
    name: str | None
    email: str | None
    status: str | None
    avatar: str | None


@dataclass(frozen=True, slots=True)
class MembersRead:
    """A workspace's auth facts and its members, by account id."""

    head: Head
    workspace: WorkspaceFacts
    members: tuple[Member, ...]


class ReadModelReader:
    """The read scripts, registered once on a Redis client (redis-py or fakeredis).

    With a `token_budget` (requests a minute) every read first spends one from the caller's
    token's bucket (`keys.token_budget`), in the same script call on one Redis.
    """

    def __init__(self, redis: Any, *, token_budget: int = 0) -> None:
        self._scripts: Callable[..., list[Any]] = (
            ClusterScripts(redis).run if is_cluster(redis) else _OneRedisScripts(redis).run
        )
        self._token_budget = token_budget

    def _run(self, name: str, token_hash: str, now_ms: int, *args: Any) -> list[Any]:
        """The script's reply; ARGV: the caller, what to spend ('' each: nothing), the route's."""
        if self._token_budget and token_hash:
            now_s = now_ms // 1000
            spending: tuple[Any, ...] = (
                keys.token_budget(token_hash),
                self._token_budget,
                RATE_WINDOW_SECONDS,
                counted_member(now_s),
            )
        else:
            spending = NOT_SPENDING
        reply = self._scripts(name, token_hash, now_ms, *spending, *args)
        if reply[0] == LIMITED:
            raise RateLimited(int(reply[1]))
        return reply

    def app_page(
        self,
        token_hash: str,
        now_ms: int,
        *,
        workspace_id: str,
        offset: int | None,
        limit: int = 0,
        mode: str = "",
        tag: str = "",
        name_needle: str = "",
        exact_app_id: str = "",
    ) -> AppPageRead:
        """A page of listed apps (created_at newest first, then id descending), filtered;
        `offset` None reads the workspace's auth facts only."""
        wanted = "0" if offset is None else "1"
        start = min(offset or 0, _MAX_OFFSET)
        reply = self._run(
            APPS, token_hash, now_ms, workspace_id, mode, tag, name_needle, start, limit, exact_app_id, wanted
        )
        return AppPageRead(
            head=_head(reply),
            workspace=WorkspaceFacts(
                status=_text(reply[AppsReply.STATUS]), role=_text(reply[AppsReply.ROLE])
            ),
            total=int(reply[AppsReply.TOTAL]),
            rows=_rows(reply),
            tag_known=reply[AppsReply.TAG_KNOWN] == b"1",
        )

    def app(self, token_hash: str, now_ms: int, app_id: str, fields: Sequence[str]) -> AppRead:
        """An app's documents; `app_id` '' (not an id) finds nothing."""
        reply = self._run(APP, token_hash, now_ms, app_id, *fields)
        api_enabled = reply[AppReply.API] == b"1"
        values = _documents(reply[AppReply.FIELDS :], fields, api_enabled=api_enabled)
        return AppRead(
            head=_head(reply),
            app=AppFacts(
                workspace_id=_text(reply[AppReply.WORKSPACE]),
                api_enabled=api_enabled,
                workspace_status=_text(reply[AppReply.STATUS]),
                role=_text(reply[AppReply.ROLE]),
            ),
            fields={name: values[i] if i < len(values) else None for i, name in enumerate(fields)},
        )

    def account(self, token_hash: str, now_ms: int) -> AccountRead:
        """The caller's account and memberships, ordered by when each was joined."""
        reply = self._run(ACCOUNT, token_hash, now_ms)
        memberships: list[Membership] = []
        tail = reply[AccountReply.MEMBERSHIPS :]
        for i in range(0, len(tail) - 4, 5):
            document = orjson.loads(tail[i + 1])
            memberships.append(
                Membership(
                    workspace_id=tail[i].decode(),
                    role=str(document["role"]),
                    joined_position=int(document["jpos"]),
                    name=_text(tail[i + 2]),
                    status=_text(tail[i + 3]),
                    created_at=_text(tail[i + 4]),
                ),
            )
        memberships.sort(key=lambda m: (m.joined_position, m.workspace_id))
        return AccountRead(
            head=_head(reply),
            name=_text(reply[AccountReply.NAME]),
            email=_text(reply[AccountReply.EMAIL]),
            memberships=tuple(memberships),
            current_workspace_id=_current(
                reply[AccountReply.CURRENT], reply[AccountReply.CURRENT_POSITION], memberships
            ),
        )

    def session_page(
        self, token_hash: str, now_ms: int, *, offset: int | None, limit: int = 0
    ) -> SessionPageRead:
        """A page of the account's live sessions; `offset` None reads only the caller."""
        bounds = ("", "") if offset is None else (min(offset, _MAX_OFFSET), limit)
        reply = self._run(SESSIONS, token_hash, now_ms, *bounds)
        return SessionPageRead(
            head=_head(reply),
            total=int(reply[SessionsReply.TOTAL]),
            rows=tuple(filter(None, reply[SessionsReply.ROWS :])),
        )

    def members(self, token_hash: str, now_ms: int, workspace_id: str, *, wanted: bool) -> MembersRead:
        """A workspace's members (by account id) and the caller's role there."""
        reply = self._run(MEMBERS, token_hash, now_ms, workspace_id, "1" if wanted else "0")
        tail = reply[MembersReply.MEMBERS :]
        members = tuple(
            Member(
                account_id=tail[i].decode(),
                role=tail[i + 1].decode(),
                name=_text(tail[i + 2]),
                email=_text(tail[i + 3]),
                status=_text(tail[i + 4]),
                avatar=_text(tail[i + 5]),
            )
            for i in range(0, len(tail) - 5, 6)
        )
        return MembersRead(
            head=_head(reply),
            workspace=WorkspaceFacts(
                status=_text(reply[MembersReply.STATUS]), role=_text(reply[MembersReply.ROLE])
            ),
            members=members,
        )


class _OneRedisScripts:
    """The read scripts on one Redis: everything in one EVALSHA.

    Each thread sends on a connection of its own, kept for the life of the process: going
    through redis-py's client (pool checkout, retry wrapper, response callbacks) costs about
    10 µs a call on the hottest path, a sixth of a list request's time in Python.
    """

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._scripts = {name: redis.register_script(read_script(name)) for name in SCRIPTS}
        self._lanes = threading.local()

    def run(self, name: str, *args: Any) -> list[Any]:
        script = self._scripts[name]
        try:
            return self._evalsha(script.sha, args)
        except NoScriptError:  # a server that lost it (restart, SCRIPT FLUSH): load it again
            self._redis.script_load(script.script)
            return self._evalsha(script.sha, args)

    def _evalsha(self, sha: str, args: tuple[Any, ...]) -> Any:
        connection = getattr(self._lanes, "connection", None)
        if connection is None:
            connection = self._lanes.connection = self._redis.connection_pool.make_connection()
        # A failure drops the connection (redis-py's own rule); the next command connects again.
        connection.send_packed_command(connection.pack_command("EVALSHA", sha, 0, *args), check_health=False)
        return connection.read_response()


def _rows(reply: list[Any]) -> tuple[bytes, ...]:
    """A page's rows, completed: each stored row (its author's id, then the row up to the
    author's name) with the name the workspace keeps, then the workspace's tail."""
    count = int(reply[AppsReply.ROW_COUNT])
    if not count:
        return ()
    tail = reply[AppsReply.TAIL] or b"}"
    first = AppsReply.ROWS
    stored = reply[first : first + count]
    pairs = reply[first + count :]
    name = dict(zip(pairs[::2], pairs[1::2], strict=False)).get
    return tuple([row[AUTHOR_ID:] + (name(row[:AUTHOR_ID]) or NULL) + tail for row in stored if row])


def _documents(values: list[Any], fields: Sequence[str], *, api_enabled: bool) -> list[Any]:
    """An app's fields as asked; the summary and info, which are not stored, cut from the
    app's row (after the fields, with its author's name as the workspace keeps it)."""
    if len(values) <= len(fields) or not any(name in (SUMMARY, INFO) for name in fields):
        return values
    row, name = [*values[len(fields) :], None][:2]
    completed = list(values[: len(fields)])
    if row is None:
        return completed
    for i, field in enumerate(fields):
        if field == SUMMARY:
            completed[i] = summary_from_row(row[AUTHOR_ID:], name or NULL)
        elif field == INFO:
            completed[i] = info_from_row(row[AUTHOR_ID:], name or NULL, api_enabled=api_enabled)
    return completed


def _current(member: bytes | None, score: bytes | None, memberships: list[Membership]) -> str | None:
    """W*, the workspace most recently made current (by a join with `current: true` or a
    switch), is current only while the membership it was made current in remains: one
    joined at or before that position (a later join is a new membership, not current)."""
    if member is None or score is None:
        return None
    workspace_id = member.decode()
    position = int(float(score))
    for membership in memberships:
        if membership.workspace_id == workspace_id and membership.joined_position <= position:
            return workspace_id
    return None


def _head(reply: list[Any]) -> Head:
    if reply[HeadReply.WATERMARK] is None:
        raise NotBuiltError("no live generation: the read model is not built yet")
    position = int(reply[HeadReply.WATERMARK])
    sid = reply[HeadReply.SESSION]
    if sid is None:
        return Head(position=position, token=None)
    account_id = _text(reply[HeadReply.ACCOUNT])
    return Head(
        position=position,
        token=TokenRecord(
            session_id=sid.decode(),
            subject_type=_text(reply[HeadReply.SUBJECT_TYPE]) or "",
            account_id=account_id or None,
            subject_email=_text(reply[HeadReply.EMAIL]) or None,
            subject_issuer=_text(reply[HeadReply.ISSUER]) or None,
            expires_at_ms=_expiry(reply[HeadReply.EXPIRES]),
            revoked=reply[HeadReply.REVOKED] == b"1",
            account_status=_text(reply[HeadReply.ACCOUNT_STATUS]) or None,
        ),
    )


def _expiry(raw: bytes | None) -> int | None:
    if raw is None or raw == b"":
        return None
    try:
        return int(raw)
    except ValueError:
        return 0  # unreadable: treat as long expired, as the scripts do


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()
