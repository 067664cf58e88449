"""The auth chain through HTTP: every refusal of the contract's table, and the order of checks."""

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

    # --- step 1 ----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "authorization",
        [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer dfoa_x dfoa_y", "Bearer  dfoa_x extra", "dfoa_x"],
    )
    def test_missing_or_malformed_header_on_every_protected_route(
        self, api: Api, world: dict[str, Any], authorization: str | None
    ) -> None:
        headers = {} if authorization is None else {"Authorization": authorization}
        for path, params in self.protected_paths(world):
            result = api.get(path, headers=headers, **params)
            assert_error(result, 401, "unauthorized", "missing bearer token")

    def test_extra_words_after_a_good_token_are_refused(self, api: Api, world: dict[str, Any]) -> None:
        result = api.get("/account", headers={"Authorization": f"Bearer {world['token']} please"})
        assert_error(result, 401, "unauthorized", "missing bearer token")

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

    # --- steps 2 and 3 ---------------------------------------------------------------------

    def test_an_sso_token_lacks_apps_read_on_every_app_route(self, api: Api, world: dict[str, Any]) -> None:
        token = api.sso_login("sso@example.com", "https://idp.example.com")
        assert_error(
            api.get("/apps", token, workspace_id=world["ws"]),
            403,
            "forbidden",
            "insufficient_scope: apps:read",
        )
        for suffix in APP_ROUTES:
            result = api.get(f"/apps/{world['app']}{suffix}", token)
            assert_error(result, 403, "forbidden", "insufficient_scope: apps:read")

    def test_an_sso_token_passes_the_bearer_routes(self, api: Api, world: dict[str, Any]) -> None:
        token = api.sso_login("sso@example.com", "https://idp.example.com")
        for path in ("/workspaces", "/account", "/account/sessions"):
            assert api.get(path, token).status_code == 200

    # --- step 4 ----------------------------------------------------------------------------

    def test_a_non_member_is_refused_the_list_and_every_app_route(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        other_ws = api.workspace("Beta")
        _, stranger = api.member(other_ws, "Eve")
        assert_error(
            api.get("/apps", stranger, workspace_id=world["ws"]),
            403,
            "forbidden",
            "workspace_membership_revoked",
        )
        for suffix in APP_ROUTES:
            result = api.get(f"/apps/{world['app']}{suffix}", stranger)
            assert_error(result, 403, "forbidden", "workspace_membership_revoked")

    def test_a_workspace_nobody_created_is_refused_like_any_other(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        result = api.get("/apps", world["token"], workspace_id=new_id())
        assert_error(result, 403, "forbidden", "workspace_membership_revoked")

    @pytest.mark.parametrize("status", ["banned", "closed", "pending", "uninitialized"])
    def test_an_inactive_member_is_refused_app_reads(
        self, api: Api, world: dict[str, Any], status: str
    ) -> None:
        _, token = api.member(world["ws"], "Mallory", "admin", status=status)
        assert_error(
            api.get("/apps", token, workspace_id=world["ws"]),
            403,
            "forbidden",
            "workspace_membership_revoked",
        )
        result = api.get(f"/apps/{world['app']}", token)
        assert_error(result, 403, "forbidden", "workspace_membership_revoked")
        # ... but still sees its memberships.
        assert [w["id"] for w in api.get("/workspaces", token).json["workspaces"]] == [world["ws"]]

    def test_an_account_banned_later_loses_access_at_once(self, api: Api, world: dict[str, Any]) -> None:
        api.project(api.history.account_updated(world["owner"], status="banned"))
        result = api.get("/apps", world["token"], workspace_id=world["ws"])
        assert_error(result, 403, "forbidden", "workspace_membership_revoked")

    def test_member_left_takes_effect_as_soon_as_projected(self, api: Api, world: dict[str, Any]) -> None:
        member, token = api.member(world["ws"], "Bob")
        assert api.get(f"/apps/{world['app']}", token).status_code == 200
        api.leave(world["ws"], member)
        assert_error(
            api.get(f"/apps/{world['app']}", token), 403, "forbidden", "workspace_membership_revoked"
        )
        assert_error(
            api.get("/apps", token, workspace_id=world["ws"]),
            403,
            "forbidden",
            "workspace_membership_revoked",
        )
        api.join(world["ws"], member, "editor")
        assert api.get("/apps", token, workspace_id=world["ws"]).status_code == 200

    # --- the order of checks ---------------------------------------------------------------

    def test_a_bad_page_with_a_bad_token_is_401(self, api: Api, world: dict[str, Any]) -> None:
        assert_error(
            api.get("/apps", account_token(), workspace_id=world["ws"], page="x"),
            401,
            "unauthorized",
            "token unknown or revoked",
        )
        assert_error(
            api.get("/apps", None, workspace_id=world["ws"], page="0"),
            401,
            "unauthorized",
            "missing bearer token",
        )
        assert_error(
            api.get("/account/sessions", account_token(), limit="0"),
            401,
            "unauthorized",
            "token unknown or revoked",
        )

    def test_a_bad_page_with_a_good_token_is_400(self, api: Api, world: dict[str, Any]) -> None:
        for page in ("x", "0", "-1", "1.0"):
            result = api.get("/apps", world["token"], workspace_id=world["ws"], page=page)
            assert_error(result, 400, "invalid_param", result.json["message"], params="page")
        result = api.get("/apps", world["token"], workspace_id=world["ws"], limit="0")
        assert_error(result, 400, "invalid_param", result.json["message"], params="limit")
        result = api.get("/account/sessions", world["token"], page="nope")
        assert_error(result, 400, "invalid_param", result.json["message"], params="page")

    def test_scope_is_checked_before_parameters(self, api: Api, world: dict[str, Any]) -> None:
        token = api.sso_login("sso@example.com", None)
        result = api.get("/apps", token, workspace_id=world["ws"], page="x")
        assert_error(result, 403, "forbidden", "insufficient_scope: apps:read")
        result = api.get(f"/apps/{world['app']}/describe", token, fields="bogus")
        assert_error(result, 403, "forbidden", "insufficient_scope: apps:read")

    def test_parameters_are_checked_before_membership(self, api: Api, world: dict[str, Any]) -> None:
        _, stranger = api.member(api.workspace("Beta"), "Eve")
        result = api.get("/apps", stranger, workspace_id=world["ws"], page="0")
        assert_error(result, 400, "invalid_param", result.json["message"], params="page")
        result = api.get(f"/apps/{world['app']}/describe", stranger, fields="bogus")
        assert_error(result, 400, "invalid_param", result.json["message"], params="fields")

    def test_workspace_id_missing_or_empty_is_a_bad_request(self, api: Api, world: dict[str, Any]) -> None:
        cases: list[dict[str, Any]] = [{}, {"workspace_id": ""}]
        for params in cases:
            result = api.get("/apps", world["token"], **params)
            assert_error(result, 400, "bad_request", "workspace_id query param is required")
        assert_error(api.get("/apps"), 401, "unauthorized", "missing bearer token")

    @pytest.mark.parametrize("workspace_id", ["nope", "1234", " ", "00000000-0000-0000-0000-00000000000g"])
    def test_a_malformed_workspace_id_is_invalid(
        self, api: Api, world: dict[str, Any], workspace_id: str
    ) -> None:
        result = api.get("/apps", world["token"], workspace_id=workspace_id)
        assert_error(result, 400, "invalid_param", result.json["message"], params="workspace_id")

    def test_workspace_id_is_case_insensitive(self, api: Api, world: dict[str, Any]) -> None:
        result = api.get("/apps", world["token"], workspace_id=world["ws"].upper())
        assert result.status_code == 200
        assert result.json["total"] == 1

    def test_a_404_for_unknown_apps_comes_after_authentication(self, api: Api, world: dict[str, Any]) -> None:
        assert_error(api.get(f"/apps/{new_id()}"), 401, "unauthorized", "missing bearer token")
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
        assert_error(api.get("/account"), 401, "unauthorized", "missing bearer token")
        assert_headers(api.get("/_health"))


class TestAuthOnFakeRedis(AuthContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis
