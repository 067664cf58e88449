"""The contract's typed payloads: what a valid event carries and how a bad one is named."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import EventValidationError
from shared.events import (
    AccountCreated,
    AccountUpdated,
    WorkspaceMemberMadeCurrent,
    parse_event,
)

WS = "11111111-1111-4111-8111-111111111111"
ACCOUNT = "22222222-2222-4222-8222-222222222222"


def raw(event_type: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    kind = event_type.partition(".")[0]
    return {
        "id": "33333333-3333-4333-8333-333333333333",
        "type": event_type,
        "stream": f"workspace:{WS}" if kind == "workspace" else f"account:{ACCOUNT}",
        "version": 3,
        "workspace_id": WS if kind == "workspace" else None,
        "occurred_at": "2026-12-06T03:55:47.969191+00:00",
        "data": data,
        **envelope,
    }


def made_current(data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return raw("workspace.member_made_current", data, **envelope)


def test_a_member_made_current_carries_the_account() -> None:
    event = parse_event(made_current({"account_id": ACCOUNT.upper(), "later": "ignored"}))
    assert event.payload() == WorkspaceMemberMadeCurrent(account_id=ACCOUNT)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({}, "data.account_id", "is required"),
        ({"account_id": None}, "data.account_id", "expected a UUID"),
        ({"account_id": "alice"}, "data.account_id", "expected a UUID"),
        ({"account_id": 7}, "data.account_id", "expected a UUID"),
    ],
)
def test_a_bad_member_made_current_names_its_field(data: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(EventValidationError) as raised:
        parse_event(made_current(data))
    assert raised.value.field == field
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    ("envelope", "field"),
    [
        ({"stream": f"account:{ACCOUNT}", "workspace_id": None}, "stream"),
        ({"workspace_id": None}, "workspace_id"),
        ({"workspace_id": ACCOUNT}, "workspace_id"),
    ],
)
def test_a_member_made_current_belongs_on_its_workspace_stream(envelope: dict[str, Any], field: str) -> None:
    with pytest.raises(EventValidationError) as raised:
        parse_event(made_current({"account_id": ACCOUNT}, **envelope))
    assert raised.value.field == field


def test_an_account_may_carry_an_avatar_and_an_update_may_remove_it() -> None:
    base = {"name": "Ada", "email": "ada@example.com", "status": "active"}
    assert parse_event(raw("account.created", base)).payload() == AccountCreated(**base)
    with_avatar = parse_event(raw("account.created", {**base, "avatar": "file-1"})).payload()
    assert with_avatar == AccountCreated(**base, avatar="file-1")
    assert parse_event(raw("account.updated", {"name": "Ada L."})).payload() == AccountUpdated(name="Ada L.")
    removed = parse_event(raw("account.updated", {"avatar": None})).payload()
    assert removed == AccountUpdated(avatar=None, avatar_changed=True)


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        (
            "account.created",
            {"name": "Ada", "email": "a@x.io", "status": "active", "avatar": 7},
            "data.avatar",
        ),
        ("account.updated", {"avatar": ["file-1"]}, "data.avatar"),
    ],
)
def test_a_bad_avatar_names_its_field(event_type: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(EventValidationError) as raised:
        parse_event(raw(event_type, data))
    assert raised.value.field == field
