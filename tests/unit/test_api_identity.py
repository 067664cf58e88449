"""The caller's own identity: /workspaces, /account and /account/sessions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api_events import (
    Api,
    ApiContract,
    account_token,
    assert_error,
    assert_headers,
    assert_invalid,
    at,
    new_id,
)

DAY = 86400


def no_sessions_key(value: Any) -> bool:
    """True when no object anywhere in `value` has a `sessions` key (the legacy body is gone)."""
    if isinstance(value, dict):
        return "sessions" not in value and all(no_sessions_key(v) for v in value.values())
    if isinstance(value, list):
        return all(no_sessions_key(v) for v in value)
    return True


class IdentityContract(ApiContract):
    def test_workspaces_oldest_first_with_role_status_and_current(self, api: Api) -> None:
        account = api.account("Ada")
        first, second, third = (
            api.workspace("One", created_at=at(1)),
            api.workspace("Two", status="archive", created_at=at(2)),
            api.workspace("Three", created_at=at(3)),
        )
        api.join(second, account, "admin")
        api.join(first, account, "owner", current=True)
        api.join(third, account, "dataset_operator")
        token = api.login(account)
        result = api.get("/workspaces", token)
        assert_headers(result)
        # Dify orders them by the workspace's creation time, not by when the account joined.
        assert result.json == {
            "workspaces": [
                {"id": first, "name": "One", "role": "owner", "status": "normal", "current": True},
                {"id": second, "name": "Two", "role": "admin", "status": "archive", "current": False},
                {
                    "id": third,
                    "name": "Three",
                    "role": "dataset_operator",
                    "status": "normal",
                    "current": False,
                },
            ],
        }

    def test_a_role_change_and_a_rename_show(self, api: Api) -> None:
        ws = api.workspace("One")
        account, token = api.member(ws, role="normal")
        api.project(
            api.history.member_role_changed(ws, account, "editor"), api.history.workspace_renamed(ws, "Uno")
        )
        assert api.get("/workspaces", token).json["workspaces"][0] == {
            "id": ws,
            "name": "Uno",
            "role": "editor",
            "status": "normal",
            "current": False,
        }

    def test_joining_as_current_moves_the_flag(self, api: Api) -> None:
        account = api.account()
        first, second = api.workspace("One"), api.workspace("Two")
        api.join(first, account, current=True)
        api.join(second, account, current=True)
        token = api.login(account)
        current = [w["id"] for w in api.get("/workspaces", token).json["workspaces"] if w["current"]]
        assert current == [second]
        assert api.get("/account", token).json["default_workspace_id"] == second

    def test_leaving_the_current_workspace_leaves_none_current(self, api: Api) -> None:
        account = api.account()
        first, second = api.workspace("One"), api.workspace("Two")
        api.join(first, account, current=True)
        api.join(second, account, current=True)
        api.leave(second, account)
        token = api.login(account)
        workspaces = api.get("/workspaces", token).json["workspaces"]
        assert [(w["id"], w["current"]) for w in workspaces] == [(first, False)]
        assert api.get("/account", token).json["default_workspace_id"] == first  # earliest joined

    def test_rejoining_without_current_is_not_current(self, api: Api) -> None:
        account = api.account()
        first, second = api.workspace("One"), api.workspace("Two")
        api.join(first, account)
        api.join(second, account, current=True)
        api.leave(second, account)
        api.join(second, account)  # a new membership; the old `current` join does not carry over
        token = api.login(account)
        assert [w["current"] for w in api.get("/workspaces", token).json["workspaces"]] == [False, False]
        assert api.get("/account", token).json["default_workspace_id"] == first

    def test_switching_moves_the_flag_back_and_forth(self, api: Api) -> None:
        account = api.account()
        first, second = api.workspace("One"), api.workspace("Two")
        api.join(first, account, current=True)
        api.join(second, account)
        token = api.login(account)

        def current() -> tuple[list[str], str | None]:
            workspaces = api.get("/workspaces", token).json["workspaces"]
            default = api.get("/account", token).json["default_workspace_id"]
            return [w["id"] for w in workspaces if w["current"]], default

        api.switch(second, account)
        assert current() == ([second], second)
        api.switch(first, account)  # joined earlier, switched to later: the latest setting wins
        assert current() == ([first], first)
        third = api.workspace("Three")
        api.join(third, account, current=True)
        assert current() == ([third], third)
        api.switch(second, account)
        assert current() == ([second], second)

    def test_leaving_the_workspace_switched_to_leaves_none_current(self, api: Api) -> None:
        account = api.account()
        first, second = api.workspace("One"), api.workspace("Two")
        api.join(first, account, current=True)
        api.join(second, account)
        api.switch(second, account)
        api.leave(second, account)
        token = api.login(account)

        def current() -> dict[str, bool]:
            return {w["id"]: w["current"] for w in api.get("/workspaces", token).json["workspaces"]}

        assert current() == {first: False}
        api.join(second, account)  # a new membership: the switch to the old one does not carry over
        assert current() == {first: False, second: False}
        api.switch(second, account)
        assert current() == {first: False, second: True}

    def test_a_switch_by_a_non_member_changes_nothing(self, api: Api) -> None:
        account = api.account()
        first, other = api.workspace("One"), api.workspace("Other")
        api.join(first, account, current=True)
        api.switch(other, account)
        token = api.login(account)
        assert [(w["id"], w["current"]) for w in api.get("/workspaces", token).json["workspaces"]] == [
            (first, True)
        ]

    def test_the_account_document(self, api: Api) -> None:
        account = api.account("Ada", email="ada@example.com")
        first, second = api.workspace("One"), api.workspace("Two")
        api.join(first, account, "owner")
        api.join(second, account, "normal")
        token = api.login(account, subject_email="ada@example.com")
        result = api.get("/account", token)
        assert_headers(result)
        assert result.json == {
            "subject_type": "account",
            "subject_email": "ada@example.com",
            "subject_issuer": None,
            "account": {"id": account, "email": "ada@example.com", "name": "Ada"},
            "workspaces": [
                {"id": first, "name": "One", "role": "owner"},
                {"id": second, "name": "Two", "role": "normal"},
            ],
            "default_workspace_id": first,
        }

    def test_an_account_with_no_membership(self, api: Api) -> None:
        token = api.login(api.account())
        assert api.get("/workspaces", token).json == {"workspaces": []}
        body = api.get("/account", token).json
        assert (body["workspaces"], body["default_workspace_id"]) == ([], None)

    def test_an_sso_subject_is_refused(self, api: Api) -> None:
        token = api.sso_login("sso@example.com", "https://idp.example.com")
        for path in ("/workspaces", "/account", "/account/sessions", f"/workspaces/{new_id()}"):
            assert_error(api.get(path, token), 403, "forbidden", "unsupported_token_type")

    def test_the_account_shows_its_own_email_not_the_sessions(self, api: Api) -> None:
        account = api.account("Ada", email="ada@example.com")
        token = api.login(account, subject_email="old@example.com", subject_issuer="https://idp")
        body = api.get("/account", token).json
        assert (body["subject_email"], body["subject_issuer"]) == ("ada@example.com", None)

    def test_one_workspace_of_the_callers(self, api: Api) -> None:
        account = api.account("Ada")
        ws, other, foreign = (
            api.workspace("One"),
            api.workspace("Two", status="archive"),
            api.workspace("Three"),
        )
        api.join(ws, account, "owner", current=True)
        api.join(other, account, "normal")
        token = api.login(account)
        for spelling in (ws, ws.upper(), "{" + ws + "}"):
            body = api.get(f"/workspaces/{spelling}", token).json
            assert list(body) == ["id", "name", "role", "status", "current", "created_at"]
            assert (body["id"], body["name"], body["role"], body["current"]) == (ws, "One", "owner", True)
        assert api.get(f"/workspaces/{other}", token).json["status"] == "archive"
        for unknown in (foreign, new_id(), "not-a-uuid"):
            assert_error(api.get(f"/workspaces/{unknown}", token), 404, "not_found", "workspace not found")

    def test_a_workspaces_members(self, api: Api) -> None:
        ws = api.workspace("One")
        ada, token = api.member(ws, "Ada", "owner")
        bob = api.account("Bob", status="banned", email="bob@example.com")
        api.join(ws, bob, "editor")
        _, outsider = api.member(api.workspace("Two"), "Eve")
        body = api.get(f"/workspaces/{ws}/members", token).json
        assert (body["page"], body["limit"], body["total"], body["has_more"]) == (1, 20, 2, False)
        rows = {row["id"]: row for row in body["data"]}
        assert rows[bob] == {
            "id": bob,
            "name": "Bob",
            "email": "bob@example.com",
            "role": "editor",
            "status": "banned",
            "avatar": None,
        }
        assert rows[ada]["role"] == "owner"
        api.project(api.history.account_updated(bob, avatar="https://cdn.example.com/bob.png"))
        rows = {row["id"]: row for row in api.get(f"/workspaces/{ws}/members", token).json["data"]}
        assert rows[bob]["avatar"] == "https://cdn.example.com/bob.png"
        api.project(api.history.account_updated(bob, avatar=None))
        rows = {row["id"]: row for row in api.get(f"/workspaces/{ws}/members", token).json["data"]}
        assert rows[bob]["avatar"] is None
        paged = api.get(f"/workspaces/{ws}/members", token, page=2, limit=1).json
        assert (paged["total"], len(paged["data"]), paged["has_more"]) == (2, 1, False)
        assert_error(api.get(f"/workspaces/{ws}/members", outsider), 404, "not_found", "workspace not found")
        assert_invalid(api.get(f"/workspaces/{ws}/members", token, foo="1", limit="0"), "limit", "foo")

    def test_an_account_update_shows_at_once(self, api: Api) -> None:
        account = api.account("Ada", email="old@example.com")
        token = api.login(account)
        api.project(api.history.account_updated(account, name="Ada L.", email="new@example.com"))
        assert api.get("/account", token).json["account"] == {
            "id": account,
            "email": "new@example.com",
            "name": "Ada L.",
        }

    # --- sessions --------------------------------------------------------------------------

    def test_an_account_sees_its_live_sessions_newest_first(self, api: Api) -> None:
        account = api.account()
        other = api.account("Bob")
        sessions: dict[str, str] = {}
        tokens: dict[str, str] = {}
        plan = {
            "old": {"created_at": at(10)},
            "new": {"created_at": at(30), "expires_at": at(3 * DAY)},
            "tie_a": {"created_at": at(20)},
            "tie_b": {"created_at": at(20)},
            "expired": {"created_at": at(40), "expires_at": at(3600)},
            "revoked": {"created_at": at(50)},
        }
        for name, when in plan.items():
            sessions[name] = new_id()
            tokens[name] = account_token()
            api.project(api.history.session_issued(sessions[name], tokens[name], account=account, **when))
        api.project(api.history.session_revoked(sessions["revoked"]))
        api.login(other)
        api.sso_login("sso@example.com", None)
        result = api.get("/account/sessions", tokens["old"])
        assert_headers(result)
        body = result.json
        ties = sorted([sessions["tie_a"], sessions["tie_b"]], reverse=True)
        assert [row["id"] for row in body["data"]] == [sessions["new"], *ties, sessions["old"]]
        assert (body["page"], body["limit"], body["total"], body["has_more"]) == (1, 100, 4, False)
        assert no_sessions_key(body)

    def test_a_session_row(self, api: Api) -> None:
        account = api.account()
        session, token = new_id(), account_token()
        api.project(
            api.history.session_issued(
                session,
                token,
                account=account,
                client_id="difyctl",
                device_label="work laptop",
                created_at="2026-04-27T12:00:00.250+02:00",
                expires_at=at(30 * DAY),
            ),
            api.history.session_used(session, at(60)),
        )
        assert api.get("/account/sessions", token).json["data"] == [
            {
                "id": session,
                "prefix": "dfoa_",
                "client_id": "difyctl",
                "device_label": "work laptop",
                "created_at": "2026-04-27T10:00:00.250000Z",
                "last_used_at": "2026-04-27T10:01:00Z",
                "expires_at": "2026-05-27T10:00:00Z",
            },
        ]

    def test_a_session_without_expiry_works_but_is_not_listed(self, api: Api) -> None:
        # Dify lists sessions with `expires_at > now`, which no NULL satisfies.
        account = api.account()
        forever = api.login(account, expires_at=None)
        body = api.get("/account/sessions", forever).json
        assert body["total"] == 0
        api.login(account)
        assert api.get("/account/sessions", forever).json["total"] == 1

    def test_sessions_page_and_clamp(self, api: Api) -> None:
        account = api.account()
        tokens = [api.login(account, created_at=at(i)) for i in range(5)]
        body = api.get("/account/sessions", tokens[0], limit=2, page=2).json
        assert (body["page"], body["limit"], body["total"], body["has_more"], len(body["data"])) == (
            2,
            2,
            5,
            True,
            2,
        )
        assert api.get("/account/sessions", tokens[0], limit=200).json["limit"] == 200
        assert_invalid(api.get("/account/sessions", tokens[0], limit=999), "limit")
        assert_invalid(api.get("/account/sessions", tokens[0], foo="1"), "foo")
        assert api.get("/account/sessions", tokens[0], page=4, limit=2).json["data"] == []

    def test_a_revoked_session_leaves_the_list_at_once(self, api: Api) -> None:
        account = api.account()
        keep = api.login(account)
        session = new_id()
        api.project(api.history.session_issued(session, account_token(), account=account))
        assert api.get("/account/sessions", keep).json["total"] == 2
        api.project(api.history.session_revoked(session))
        assert api.get("/account/sessions", keep).json["total"] == 1

    def test_no_response_has_a_sessions_key(self, api: Api) -> None:
        ws = api.workspace()
        _, token = api.member(ws)
        for path in ("/account/sessions", "/account", "/workspaces"):
            assert no_sessions_key(api.get(path, token).json)
        assert no_sessions_key(api.get("/apps", token, workspace_id=ws).json)


class TestIdentityOnFakeRedis(IdentityContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis
