"""Two writers meeting: an account's rename and an app its account creates, applied by
different partitions' projectors at the same moment."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

from redis.commands.core import Script

from shared.events import Event
from tests.unit.api_events import History


def rename_and_creation() -> tuple[list[Event], Event, Event]:
    """(history before, the account's rename, an app the account creates meanwhile)."""
    history = History()
    ws, account, first_app = (str(uuid.uuid4()) for _ in range(3))
    before = [
        history.workspace_created(ws, "Ops"),
        history.account_created(account, "Ada"),
        history.member_joined(ws, account, "owner", current=True),
        history.app_created(first_app, ws, account, name="First"),
    ]
    rename = history.account_updated(account, name="Ada Lovelace")
    creation = history.app_created(str(uuid.uuid4()), ws, account, name="Second")
    return before, rename, creation


class BeforeFirstScript:
    """A Redis client that runs `hook` once, just before its first script call: another
    writer's whole batch lands between this writer's fold and its apply."""

    def __init__(self, redis: Any, hook: Callable[[], object]) -> None:
        self._redis = redis
        self._hook: Callable[[], object] | None = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)

    def register_script(self, body: str) -> Script:
        return Script(cast(Any, self), body)  # scripts call back into this client

    def evalsha(self, sha: str, numkeys: int, *args: Any) -> Any:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return self._redis.evalsha(sha, numkeys, *args)
