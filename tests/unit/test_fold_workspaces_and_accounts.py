"""Folding workspaces and accounts into the records the reads use: the current workspace
and an account's avatar."""

from __future__ import annotations

from typing import Any

from projector.fold.derive import account_records, membership_records, membership_view
from projector.fold.fold import fold
from projector.fold.records import HASH, ZSET
from projector.fold.state import AccountState, State, WorkspaceState, decode_state, encode_state
from shared.events import Event, parse_event
from shared.readmodel import keys

WS = "11111111-1111-4111-8111-111111111111"
ADA = "22222222-2222-4222-8222-222222222222"
BOB = "44444444-4444-4444-8444-444444444444"
_ids = iter(range(1, 1000))


def event(event_type: str, data: dict[str, Any]) -> Event:
    n = next(_ids)
    on_workspace = event_type.startswith("workspace.")
    return parse_event(
        {
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "type": event_type,
            "stream": f"workspace:{WS}" if on_workspace else f"account:{ADA}",
            "version": n,  # the fold does not look at versions
            "workspace_id": WS if on_workspace else None,
            "occurred_at": "2026-12-06T03:55:47+00:00",
            "data": data,
        },
    )


def fold_all(*steps: tuple[int, Event]) -> State | None:
    state: State | None = None
    for position, e in steps:
        state = fold(state, e.payload(), e, position)
    return state


def current_records(state: State | None) -> dict[str, object]:
    """Ada's current-workspace entry for this workspace, as her account keeps it."""
    assert state is None or isinstance(state, WorkspaceState)
    records = membership_records(ADA, membership_view(WS, ADA, state))
    return {key: value for (kind, key, _), value in records.items() if kind == ZSET}


CREATED = event("workspace.created", {"name": "Acme"})
ADA_JOINS = event("workspace.member_joined", {"account_id": ADA, "role": "owner", "current": False})
ADA_SWITCHES = event("workspace.member_made_current", {"account_id": ADA})


def test_a_member_switching_here_records_the_switch_position() -> None:
    state = fold_all((1, CREATED), (5, ADA_JOINS), (9, ADA_SWITCHES))
    assert isinstance(state, WorkspaceState)
    assert state.current_joins == {ADA: 9}
    assert current_records(state) == {keys.account_current(ADA): 9.0}
    # The membership keeps its join position: the workspace list keeps its order.
    assert state.members[ADA].jpos == 5
    stream = f"workspace:{state.id}"
    assert decode_state(stream, stream, encode_state(state)) == state


def test_a_later_switch_here_moves_the_position_on() -> None:
    again = event("workspace.member_made_current", {"account_id": ADA})
    state = fold_all((1, CREATED), (5, ADA_JOINS), (9, ADA_SWITCHES), (14, again))
    assert current_records(state) == {keys.account_current(ADA): 14.0}


def test_a_switch_by_a_non_member_or_before_the_workspace_changes_nothing() -> None:
    bob_switches = event("workspace.member_made_current", {"account_id": BOB})
    joined = fold_all((1, CREATED), (5, ADA_JOINS))
    assert fold_all((1, CREATED), (5, ADA_JOINS), (9, bob_switches)) == joined
    assert fold_all((9, ADA_SWITCHES)) is None


def test_the_switch_is_kept_after_leaving() -> None:
    # Kept, so a switch elsewhere never lets an older setting here come back; the read
    # decides that a left membership is not current.
    left = event("workspace.member_left", {"account_id": ADA})
    state = fold_all((1, CREATED), (5, ADA_JOINS), (9, ADA_SWITCHES), (12, left))
    assert isinstance(state, WorkspaceState)
    assert ADA not in state.members
    assert current_records(state) == {keys.account_current(ADA): 9.0}


def test_an_account_avatar_is_set_changed_and_removed() -> None:
    created = event("account.created", {"name": "Ada", "email": "ada@example.com", "status": "active"})
    renamed = event("account.updated", {"name": "Ada L."})
    given = event("account.updated", {"avatar": "file-1"})
    removed = event("account.updated", {"avatar": None})

    def avatar(*steps: Event) -> object:
        state = fold_all(*enumerate(steps, start=1))
        assert isinstance(state, AccountState)
        stream = f"account:{state.id}"
        assert decode_state(stream, stream, encode_state(state)) == state
        return account_records(state).get((HASH, keys.account(ADA), "avatar"))

    assert avatar(created) is None
    assert avatar(created, given) == b"file-1"
    assert avatar(created, given, renamed) == b"file-1"  # an update without it keeps it
    assert avatar(created, given, renamed, removed) is None
