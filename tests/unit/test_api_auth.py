"""Dify's auth pipeline through HTTP: every refusal it makes, and the order it makes them in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api_events import (
    NOW,
    Api,
    ApiContract,
    account_token,
    assert_error,
    assert_headers,
    assert_invalid,
    at,
    new_id,
    sso_token,
)

APP_ROUTES = ("", "/parameters", "/describe")


class AuthContract(ApiContract):
    def protected_paths(self, world: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        app = world["app"]
        return [
            ("/apps", {"workspace_id": world["ws"]}),
            *[(f"/apps/{app}{suffix}", {}) for suffix in APP_ROUTES],
            ("/workspaces", {}),
            ("/account", {}),
            ("/account/sessions", {}),
        ]

    # --- the bearer ------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "authorization", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "dfoa_x"]
    )
    def test_no_bearer_on_every_protected_route(
        self, api: Api, world: dict[str, Any], authorization: str | None
    ) -> None:
        headers = {} if authorization is None else {"Authorization": authorization}
        for path, params in self.protected_paths(world):
            result = api.get(path, headers=headers, **params)
            assert_error(result, 401, "unauthorized", "bearer required")

    def test_words_after_a_good_token_are_part_of_an_unknown_token(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        # Dify takes everything after the scheme as the token, so this one is simply unknown.
        for value in (f"Bearer {world['token']} please", f"Bearer  {world['token']} extra"):
            result = api.get("/account", headers={"Authorization": value})
            assert_error(result, 401, "unauthorized", "token unknown or revoked")

    @pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
    def test_the_scheme_is_case_insensitive(self, api: Api, world: dict[str, Any], scheme: str) -> None:
        result = api.get(
            "/apps", headers={"Authorization": f"{scheme} {world['token']}"}, workspace_id=world["ws"]
        )
        assert result.status_code == 200

    def test_an_unknown_prefix(self, api: Api, world: dict[str, Any]) -> None:
        for path, params in self.protected_paths(world):
            result = api.get(path, "app-" + world["token"][5:], **params)
            assert_error(result, 401, "unauthorized", "unknown token prefix")

    def test_an_unknown_token(self, api: Api, world: dict[str, Any]) -> None:
        for token in (account_token(), sso_token()):
            for path, params in self.protected_paths(world):
                assert_error(api.get(path, token, **params), 401, "unauthorized", "token unknown or revoked")

    def test_a_revoked_token_stops_working_as_soon_as_projected(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        session = new_id()
        token = account_token()
        api.project(api.history.session_issued(session, token, account=world["owner"]))
        assert api.get("/apps", token, workspace_id=world["ws"]).status_code == 200
        api.project(api.history.session_revoked(session))
        for path, params in self.protected_paths(world):
            assert_error(api.get(path, token, **params), 401, "unauthorized", "token unknown or revoked")
        assert api.get("/apps", world["token"], workspace_id=world["ws"]).status_code == 200

    def test_an_expired_token_is_token_expired_for_as_long_as_it_exists(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        expired = api.login(world["owner"], expires_at=at(3600))  # an hour after BASE, a day before NOW
        exactly_now = api.login(world["owner"], expires_at=NOW.isoformat())
        for token in (expired, exactly_now):
            for path, params in self.protected_paths(world):
                assert_error(api.get(path, token, **params), 401, "token_expired", "token expired")

    def test_a_token_expiring_later_works(self, api: Api, world: dict[str, Any]) -> None:
        token = api.login(world["owner"], expires_at=at(2 * 86400))
        assert api.get("/apps", token, workspace_id=world["ws"]).status_code == 200

    def test_expiry_is_judged_by_the_server_clock_at_request_time(self, redis_client: Any) -> None:
        clock = [NOW.timestamp()]
        api = Api(redis_client, clock=lambda: clock[0])
        account = api.account()
        token = api.login(account, expires_at=(NOW.replace(microsecond=0)).isoformat().replace("+00:00", "Z"))
        clock[0] = NOW.timestamp() - 0.002
        assert api.get("/account", token).status_code == 200
        clock[0] = NOW.timestamp()
        assert_error(api.get("/account", token), 401, "token_expired", "token expired")

    # --- token types -----------------------------------------------------------------------

    def test_an_sso_token_is_refused_on_every_read_route(self, api: Api, world: dict[str, Any]) -> None:
        token = api.sso_login("sso@example.com", "https://idp.example.com")
        for path, params in self.protected_paths(world):
            assert_error(api.get(path, token, **params), 403, "forbidden", "unsupported_token_type")

    def test_the_token_type_is_checked_before_parameters(self, api: Api, world: dict[str, Any]) -> None:
        token = api.sso_login("sso@example.com", None)
        result = api.get("/apps", token, workspace_id=world["ws"], page="x")
        assert_error(result, 403, "forbidden", "unsupported_token_type")
        result = api.get(f"/apps/{world['app']}/describe", token, fields="bogus")
        assert_error(result, 403, "forbidden", "unsupported_token_type")

    # --- the workspace ---------------------------------------------------------------------

    def test_a_non_member_learns_nothing(self, api: Api, world: dict[str, Any]) -> None:
        other_ws = api.workspace("Beta")
        _, stranger = api.member(other_ws, "Eve")
        assert_error(
            api.get("/apps", stranger, workspace_id=world["ws"]), 404, "not_found", "workspace not found"
        )
        for suffix in APP_ROUTES:
            result = api.get(f"/apps/{world['app']}{suffix}", stranger)
            assert_error(result, 404, "not_found", "workspace not found")

    def test_a_workspace_nobody_created_is_not_found(self, api: Api, world: dict[str, Any]) -> None:
        result = api.get("/apps", world["token"], workspace_id=new_id())
        assert_error(result, 404, "not_found", "workspace not found")

    def test_an_archived_workspace_is_not_found_and_its_apps_unavailable(self, api: Api) -> None:
        ws = api.workspace("Old", status="archive")
        owner, token = api.member(ws, "Ada", "owner")
        app = api.app(ws, owner, name="Relic")
        assert_error(api.get("/apps", token, workspace_id=ws), 404, "not_found", "workspace not found")
        for suffix in APP_ROUTES:
            assert_error(api.get(f"/apps/{app}{suffix}", token), 403, "forbidden", "workspace unavailable")
        # ... yet it is among the caller's workspaces, with its status.
        workspaces = api.get("/workspaces", token).json["workspaces"]
        assert [(w["id"], w["status"]) for w in workspaces] == [(ws, "archive")]

    def test_archiving_a_workspace_takes_effect_as_soon_as_projected(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        ws = world["ws"]
        api.project(
            api.history.event("workspace.status_changed", f"workspace:{ws}", ws, {"status": "archive"})
        )
        assert_error(
            api.get("/apps", world["token"], workspace_id=ws), 404, "not_found", "workspace not found"
        )
        result = api.get(f"/apps/{world['app']}/describe", world["token"])
        assert_error(result, 403, "forbidden", "workspace unavailable")
        api.project(
            api.history.event("workspace.status_changed", f"workspace:{ws}", ws, {"status": "normal"})
        )
        assert api.get("/apps", world["token"], workspace_id=ws).json["total"] == 1

    @pytest.mark.parametrize("status", ["banned", "closed", "pending", "uninitialized"])
    def test_an_inactive_member_is_refused_app_reads(
        self, api: Api, world: dict[str, Any], status: str
    ) -> None:
        _, token = api.member(world["ws"], "Mallory", "admin", status=status)
        assert_error(
            api.get("/apps", token, workspace_id=world["ws"]), 404, "not_found", "workspace not found"
        )
        result = api.get(f"/apps/{world['app']}/describe", token)
        assert_error(result, 404, "not_found", "workspace not found")
        # ... but still sees its memberships.
        assert [w["id"] for w in api.get("/workspaces", token).json["workspaces"]] == [world["ws"]]

    def test_an_account_banned_later_loses_access_at_once(self, api: Api, world: dict[str, Any]) -> None:
        api.project(api.history.account_updated(world["owner"], status="banned"))
        result = api.get("/apps", world["token"], workspace_id=world["ws"])
        assert_error(result, 404, "not_found", "workspace not found")

    def test_member_left_takes_effect_as_soon_as_projected(self, api: Api, world: dict[str, Any]) -> None:
        member, token = api.member(world["ws"], "Bob")
        assert api.get(f"/apps/{world['app']}/describe", token).status_code == 200
        api.leave(world["ws"], member)
        assert_error(
            api.get(f"/apps/{world['app']}/describe", token), 404, "not_found", "workspace not found"
        )
        assert_error(
            api.get("/apps", token, workspace_id=world["ws"]), 404, "not_found", "workspace not found"
        )
        api.join(world["ws"], member, "editor")
        assert api.get("/apps", token, workspace_id=world["ws"]).status_code == 200

    def test_an_app_whose_service_api_is_off_is_refused_before_membership(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        hidden = api.app(world["ws"], world["owner"], name="Hidden", enable_api=False)
        _, stranger = api.member(api.workspace("Beta"), "Eve")
        for token in (world["token"], stranger):
            for suffix in APP_ROUTES:
                result = api.get(f"/apps/{hidden}{suffix}", token)
                assert_error(result, 403, "forbidden", "service_api_disabled")
        listed = api.get("/apps", world["token"], workspace_id=world["ws"]).json
        assert hidden not in [row["id"] for row in listed["data"]]
        assert listed["total"] == 1

    def test_a_per_app_route_checks_a_workspace_id_it_is_given(self, api: Api, world: dict[str, Any]) -> None:
        other = api.workspace("Beta")
        result = api.get(f"/apps/{world['app']}/describe", world["token"], workspace_id=other)
        assert_error(result, 422, "invalid_param", "workspace_id does not match app's workspace")
        # The app's own workspace passes that check, and describe then refuses the parameter.
        assert_invalid(
            api.get(f"/apps/{world['app']}/describe", world["token"], workspace_id=world["ws"]),
            "workspace_id",
        )

    # --- the order of checks ---------------------------------------------------------------

    def test_a_bad_page_with_a_bad_token_is_401(self, api: Api, world: dict[str, Any]) -> None:
        assert_error(
            api.get("/apps", account_token(), workspace_id=world["ws"], page="x"),
            401,
            "unauthorized",
            "token unknown or revoked",
        )
        assert_error(
            api.get("/apps", None, workspace_id=world["ws"], page="0"), 401, "unauthorized", "bearer required"
        )
        assert_error(
            api.get("/account/sessions", account_token(), limit="0"),
            401,
            "unauthorized",
            "token unknown or revoked",
        )

    def test_a_bad_page_with_a_good_token_is_422(self, api: Api, world: dict[str, Any]) -> None:
        for page in ("x", "0", "-1", "1.5", ""):
            assert_invalid(api.get("/apps", world["token"], workspace_id=world["ws"], page=page), "page")
        assert_invalid(api.get("/apps", world["token"], workspace_id=world["ws"], limit="0"), "limit")
        assert_invalid(api.get("/account/sessions", world["token"], page="nope"), "page")

    def test_membership_is_checked_before_parameters(self, api: Api, world: dict[str, Any]) -> None:
        _, stranger = api.member(api.workspace("Beta"), "Eve")
        result = api.get("/apps", stranger, workspace_id=world["ws"], page="0")
        assert_error(result, 404, "not_found", "workspace not found")
        result = api.get(f"/apps/{world['app']}/describe", stranger, fields="bogus")
        assert_error(result, 404, "not_found", "workspace not found")

    @pytest.mark.parametrize(
        "workspace_id", [None, "", "nope", "1234", " ", "00000000-0000-0000-0000-00000000000g"]
    )
    def test_a_missing_or_malformed_workspace_id_is_not_found(
        self, api: Api, world: dict[str, Any], workspace_id: str | None
    ) -> None:
        params = {} if workspace_id is None else {"workspace_id": workspace_id}
        result = api.get("/apps", world["token"], **params)
        assert_error(result, 404, "not_found", "workspace not found")
        assert_error(api.get("/apps", **params), 401, "unauthorized", "bearer required")

    @pytest.mark.parametrize(
        "spelling", [str.upper, lambda ws: "{" + ws + "}", lambda ws: ws.replace("-", "")]
    )
    def test_workspace_id_spellings_python_reads_as_the_uuid(
        self, api: Api, world: dict[str, Any], spelling: Any
    ) -> None:
        result = api.get("/apps", world["token"], workspace_id=spelling(world["ws"]))
        assert result.status_code == 200
        assert result.json["total"] == 1
        assert result.json["data"][0]["workspace_id"] == world["ws"]

    def test_a_repeated_workspace_id_counts_with_its_first_value(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        other = api.workspace("Beta")
        result = api.get(
            "/apps", world["token"], query_string=f"workspace_id={world['ws']}&workspace_id={other}"
        )
        assert result.status_code == 200
        assert result.json["total"] == 1

    def test_a_404_for_unknown_apps_comes_after_authentication(self, api: Api, world: dict[str, Any]) -> None:
        assert_error(api.get(f"/apps/{new_id()}"), 401, "unauthorized", "bearer required")
        assert_error(api.get(f"/apps/{new_id()}", world["token"]), 404, "not_found", "app not found")

    def test_a_read_model_not_built_yet_refuses_no_token_but_asks_to_retry(self, redis_client: Any) -> None:
        api = Api(redis_client)  # nothing projected: no live generation at all
        result = api.get("/account", account_token())
        # Not "token unknown": the token may be fine, the read model is just not there yet.
        assert_error(
            result,
            503,
            "service_unavailable",
            "The service is temporarily unavailable, please try again later.",
        )
        assert result.headers["retry-after"] == "5"
        assert result.headers["x-readmodel-position"] == "0"
        assert_error(api.get("/account"), 401, "unauthorized", "bearer required")
        assert_headers(api.get("/_health"))


class TestAuthOnFakeRedis(AuthContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis
