"""The contract's typed payloads: what a valid event carries and how a bad one is named."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import EventValidationError
from shared.events import WorkspaceMemberMadeCurrent, parse_event

WS = "11111111-1111-4111-8111-111111111111"
ACCOUNT = "22222222-2222-4222-8222-222222222222"


def made_current(data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "id": "33333333-3333-4333-8333-333333333333",
        "type": "workspace.member_made_current",
        "stream": f"workspace:{WS}",
        "version": 3,
        "workspace_id": WS,
        "occurred_at": "2026-12-06T03:55:47.969191+00:00",
        "data": data,
        **envelope,
    }


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
