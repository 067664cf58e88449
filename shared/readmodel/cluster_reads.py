"""Reading the read model on a Redis Cluster: the caller's slots first, then the data's slot.

A script there may only touch its own slot. So one round trip reads what lives elsewhere,
in parallel on whichever nodes hold it: the watermark, the caller's token (which carries
its account's status) and, for GET /apps/{id}, the app's locator. A second runs the route's
script (the same bodies as on one Redis, behind `lua/read_prelude_cluster.lua`) in the
workspace's or account's slot. The answer is put together in the one-Redis shape, so
everything after it is shared. GET /account (and /workspaces) needs a third, for its
workspaces' names; GET /workspaces/{id}/members one for its members' profiles.

The live generation is cached for `POINTER_TTL` seconds in each process instead of being
read inside every script; a rebuild waits longer than that after its flip before it deletes
the old generation, so a reader on the old pointer still finds it whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from shared.readmodel import keys
from shared.readmodel.read_scripts import (
    ACCOUNT,
    APP,
    APPS,
    CLUSTER,
    LAYOUTS,
    MEMBERS,
    SCRIPTS,
    read_script,
    spend_script,
)
from shared.readmodel.script_layouts import TOKEN_FIELDS, AccountReply, HeadReply, MembersReply, nothing

# What a read answers instead of its data when the caller's rate budget is spent (and, on
# the cluster, the spending arguments its script is passed: spent already).
LIMITED = b"limited"
NOT_SPENDING = ("", "", "", "")
POINTER_TTL = 1.0  # seconds a process keeps using the live generation it last read

# What each script answers after the head when the caller gets no data.
_NOTHING: dict[str, list[Any]] = {name: nothing(layout) for name, layout in LAYOUTS.items()}


class LivePointer:
    """The live generation's name, read at most once per `ttl` seconds."""

    def __init__(
        self, redis: Any, *, ttl: float = POINTER_TTL, monotonic: Callable[[], float] = time.monotonic
    ):
        self._redis = redis
        self._ttl = ttl
        self._monotonic = monotonic
        self._value: str | None = None
        self._expires = float("-inf")

    def get(self) -> str | None:
        now = self._monotonic()
        if now < self._expires:
            return self._value
        raw = self._redis.get(keys.LIVE_POINTER)
        self._value = None if raw is None else raw.decode()
        # No generation yet is not cached: the first one appears as soon as it is built.
        self._expires = now + self._ttl if self._value is not None else float("-inf")
        return self._value


class ClusterScripts:
    """Runs a read script by name, answering exactly as the one-Redis script would."""

    def __init__(self, redis: Any, *, pointer: LivePointer | None = None) -> None:
        self._redis = redis
        self._pointer = pointer or LivePointer(redis)
        self._scripts = {name: redis.register_script(read_script(name, prelude=CLUSTER)) for name in SCRIPTS}
        self._spend = redis.register_script(spend_script())

    def run(self, name: str, token_hash: str, now_ms: int, bucket: str, *spending_and_args: Any) -> list[Any]:
        """ARGV as on one Redis: the caller, what to spend (`bucket` '' = nothing), the route's."""
        budget, window, member, *rest = spending_and_args
        spending = (bucket, budget, window, now_ms // 1000, member) if bucket else None
        args = tuple(rest)
        head: list[Any] = [None] * len(HeadReply.fields)
        generation = self._pointer.get()
        try:
            answers = self._first_round_trip(name, generation, token_hash, spending, args)
        except NoScriptError:  # a node without the spending script (restarted, or new): none spent
            self._redis.script_load(self._spend.script)
            answers = self._first_round_trip(name, generation, token_hash, spending, args)
        if spending is not None:
            waited = answers.pop(0)
            if waited:
                return [LIMITED, waited]
        if generation is None:  # not built yet: no watermark, as on one Redis
            return head + _NOTHING[name]
        prefix = keys.full_key(generation, "")
        head[HeadReply.WATERMARK] = answers[0] or b"0"
        if token_hash:
            head[HeadReply.SESSION : HeadReply.SESSION + len(TOKEN_FIELDS)] = answers[1]
        workspace = (
            _text(answers[-1]) if name == APP and args[0] else (args[0] if name in (APPS, MEMBERS) else None)
        )
        account = _text(head[HeadReply.ACCOUNT]) or None
        route = self._route(name, prefix, head, now_ms, account, workspace, args)
        if route is None:
            return head + _NOTHING[name]
        subject_type = _text(head[HeadReply.SUBJECT_TYPE])
        caller = {"st": subject_type, "account": account, "ws": workspace, "now": now_ms}
        script_args = [generation, orjson.dumps({k: v for k, v in caller.items() if v}), *NOT_SPENDING]
        answer = head + list(self._script(name, route, [*script_args, *args])[len(head) :])
        if name == ACCOUNT:
            fields = ("name", "status", "created")
            self._fill(prefix, answer, AccountReply.MEMBERSHIPS, keys.workspace, fields)
        elif name == MEMBERS:
            fields = ("name", "email", "status", "avatar")
            self._fill(prefix, answer, MembersReply.MEMBERS, keys.account, fields)
        return answer

    @staticmethod
    def _route(
        name: str,
        prefix: str,
        head: list[Any],
        now_ms: int,
        account: str | None,
        workspace: str | None,
        args: tuple[Any, ...],
    ) -> str | None:
        """The key whose slot the script runs in, or None when the caller gets no data."""
        if not _usable(head, now_ms):
            return None
        if name in (APPS, APP, MEMBERS):
            return prefix + keys.workspace_members(workspace) if workspace else None
        if name == ACCOUNT:
            return prefix + keys.account(account) if account else None
        if _text(head[HeadReply.SUBJECT_TYPE]) == "account" and account:
            return prefix + keys.account_sessions(account)
        return None

    def _first_round_trip(
        self,
        name: str,
        generation: str | None,
        token_hash: str,
        spending: tuple[Any, ...] | None,
        args: tuple[Any, ...],
    ) -> list[Any]:
        """In one round trip: the spending (its bucket shares the token's slot, so it comes
        first), the watermark, the caller's token and, for GET /apps/{id}, the app's locator."""
        pipe = self._redis.pipeline()
        if spending is not None:
            pipe.execute_command("EVALSHA", self._spend.sha, 1, *spending)
        if generation is not None:
            prefix = keys.full_key(generation, "")
            # The watermark is read before the data, so it never claims more than the data
            # shows (the writer raises it only after a batch's records and states are in).
            pipe.get(prefix + keys.WATERMARK)
            if token_hash:
                pipe.hmget(prefix + keys.token(token_hash), *TOKEN_FIELDS)
            if name == APP and args[0]:
                pipe.hget(prefix + keys.app_workspace(args[0]), "ws")
        return pipe.execute() if len(pipe) else []

    def _script(self, name: str, route: str, args: list[Any]) -> list[Any]:
        script = self._scripts[name]
        try:
            # A raw EVALSHA, routed by its one key to the node of that slot.
            return self._redis.execute_command("EVALSHA", script.sha, 1, route, *args)
        except NoScriptError:
            self._redis.script_load(script.script)  # on every primary
            return self._redis.execute_command("EVALSHA", script.sha, 1, route, *args)

    def _fill(
        self, prefix: str, answer: list[Any], start: int, key: Callable[[str], str], fields: tuple[str, ...]
    ) -> None:
        """Fill in what the script could not read outside its slot: for each entry of `answer`
        (from `start`: its id, one more item, then `fields`), the hash `key(id)`."""
        size = 2 + len(fields)
        entries = range(start, len(answer) - size + 1, size)
        if not entries:
            return
        pipe = self._redis.pipeline()
        for i in entries:
            pipe.hmget(prefix + key(answer[i].decode()), *fields)
        for i, values in zip(entries, pipe.execute(), strict=True):
            answer[i + 2 : i + 2 + len(fields)] = values


def _usable(head: list[Any], now_ms: int) -> bool:
    """The token exists, is not revoked and has not expired: as read_prelude.lua judges it."""
    if head[HeadReply.SESSION] is None or head[HeadReply.REVOKED] == b"1":
        return False
    expires = head[HeadReply.EXPIRES]
    if expires is None or expires == b"":
        return True
    try:
        return int(expires) > now_ms
    except ValueError:
        return False


def _text(raw: Any) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw
