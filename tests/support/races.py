"""Two writers meeting: an account's rename and an app its account creates, applied by
different partitions' projectors at the same moment."""

from __future__ import annotations

import uuid

from shared.events import Event
from tests.unit.api_events import History


def rename_and_creation(*, shown_before: bool) -> tuple[list[Event], Event, Event]:
    """(history before, the account's rename, an app the account creates meanwhile); with
    `shown_before` the workspace already shows the account (an earlier app of its)."""
    history = History()
    ws, account = (str(uuid.uuid4()) for _ in range(2))
    before = [
        history.workspace_created(ws, "Ops"),
        history.account_created(account, "Ada"),
        history.member_joined(ws, account, "owner", current=True),
    ]
    if shown_before:
        before.append(history.app_created(str(uuid.uuid4()), ws, account, name="First"))
    rename = history.account_updated(account, name="Ada Lovelace")
    creation = history.app_created(str(uuid.uuid4()), ws, account, name="Second")
    return before, rename, creation
