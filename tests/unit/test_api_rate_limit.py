"""Dify's rate limits on /openapi/v1: a minute's budget per bearer token, and per account on
GET /account, counted where Dify counts them and refused as Dify refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api_events import NOW, Api, ApiContract, account_token, assert_error

T0 = NOW.timestamp()
TOKEN_SPENT = "This user has exceeded an allotted request count. Try again later."


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def limited(budget: int, per_account: int = 0) -> dict[str, str]:
    return {
        "OPENAPI_RATE_LIMIT_PER_TOKEN": str(budget),
        "READMODEL_ACCOUNT_RATE_LIMIT_PER_MINUTE": str(per_account),
    }


class RateLimitContract(ApiContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def api(self, redis_client: Any, clock: Clock) -> Api:
        return Api(redis_client, limited(5), clock=clock)

    def reopen(self, api: Api, clock: Clock, env: dict[str, str]) -> Api:
        """Another API process on the same Redis (and the same read model)."""
        other = Api(api.redis, env, clock=clock)
        other.history = api.history
        return other

    def apps(self, api: Api, world: dict[str, Any], token: str | None = None) -> Any:
        return api.get("/apps", token or world["token"], workspace_id=world["ws"])

    def test_the_sixth_request_of_a_minute_is_a_429_with_retry_after(
        self, api: Api, world: dict[str, Any], clock: Clock
    ) -> None:
        for second in range(5):
            clock.now = T0 + second
            assert self.apps(api, world).status_code == 200
        clock.now = T0 + 10
        refused = self.apps(api, world)
        assert_error(refused, 429, "too_many_requests", TOKEN_SPENT)
        # The oldest counted request (at T0) leaves the window at T0 + 60.
        assert refused.headers["retry-after"] == "50"

    def test_another_token_has_a_budget_of_its_own(self, api: Api, world: dict[str, Any]) -> None:
        for _ in range(5):
            assert self.apps(api, world).status_code == 200
        assert self.apps(api, world).status_code == 429
        same_account = api.login(world["owner"])
        assert self.apps(api, world, same_account).status_code == 200

    def test_the_budget_comes_back_as_the_window_slides_and_refusals_spend_nothing(
        self, api: Api, world: dict[str, Any], clock: Clock
    ) -> None:
        for _ in range(3):
            assert self.apps(api, world).status_code == 200
        clock.now = T0 + 30
        for _ in range(2):
            assert self.apps(api, world).status_code == 200
        clock.now = T0 + 59
        refused = self.apps(api, world)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        clock.now = T0 + 60  # the three of T0 have left the window; the refusal was not counted
        for _ in range(3):
            assert self.apps(api, world).status_code == 200
        refused = self.apps(api, world)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "30"

    def test_zero_turns_the_limit_off(self, api: Api, world: dict[str, Any], clock: Clock) -> None:
        unlimited = self.reopen(api, clock, limited(0))
        for _ in range(30):
            assert self.apps(unlimited, world).status_code == 200

    def test_an_unknown_token_of_a_known_prefix_spends_a_budget(
        self, api: Api, world: dict[str, Any]
    ) -> None:
        stranger = account_token()  # a well-formed token no session has
        for _ in range(5):
            assert_error(api.get("/account", stranger), 401, "unauthorized", "token unknown or revoked")
        assert_error(api.get("/account", stranger), 429, "too_many_requests", TOKEN_SPENT)

    def test_refusals_before_the_prefix_is_known_spend_nothing(self, api: Api, world: dict[str, Any]) -> None:
        for _ in range(8):
            assert api.get("/account", "app-not-a-dify-bearer").status_code == 401
            assert api.get("/account").status_code == 401
        assert self.apps(api, world).status_code == 200

    def test_every_bearer_route_spends_from_the_one_budget(self, api: Api, world: dict[str, Any]) -> None:
        token, app = world["token"], world["app"]
        assert api.get(f"/apps/{app}/describe", token).status_code == 200
        assert api.get("/workspaces", token).status_code == 200
        assert api.get("/account/sessions", token).status_code == 200
        assert api.get("/account", token).status_code == 200
        # A request Dify's validation refuses was counted before it: the budget runs first.
        assert api.get("/apps", token, workspace_id=world["ws"], limit="0").status_code == 422
        assert api.get(f"/apps/{app}/parameters", token).status_code == 429

    def test_public_routes_spend_nothing(self, api: Api, world: dict[str, Any]) -> None:
        for _ in range(3):
            for path in ("/_version", "/_health", "/openapi.json"):
                assert api.get(path, world["token"]).status_code == 200
        for _ in range(5):
            assert self.apps(api, world).status_code == 200

    def test_two_api_processes_share_one_budget(self, api: Api, world: dict[str, Any], clock: Clock) -> None:
        other = self.reopen(api, clock, limited(5))
        for _ in range(3):
            assert self.apps(api, world).status_code == 200
        for _ in range(2):
            assert self.apps(other, world).status_code == 200
        assert self.apps(other, world).status_code == 429
        assert self.apps(api, world).status_code == 429

    def test_get_account_spends_the_account_budget_too(
        self, api: Api, world: dict[str, Any], clock: Clock
    ) -> None:
        accounts = self.reopen(api, clock, limited(0, per_account=2))
        token, second = world["token"], accounts.login(world["owner"])
        assert accounts.get("/account", token).status_code == 200
        assert accounts.get("/account", second).status_code == 200
        refused = accounts.get("/account", token)
        assert_error(refused, 429, "too_many_requests", "rate_limited")
        assert "retry-after" not in refused.headers
        assert accounts.get("/workspaces", token).status_code == 200  # only GET /account spends it
        _, other_token = accounts.member(world["ws"], "Bob")  # another account, another budget
        assert accounts.get("/account", other_token).status_code == 200
        clock.now = T0 + 60
        assert accounts.get("/account", token).status_code == 200

    def test_a_refused_caller_spends_no_account_budget(
        self, api: Api, world: dict[str, Any], clock: Clock
    ) -> None:
        accounts = self.reopen(api, clock, limited(0, per_account=1))
        for _ in range(3):
            assert accounts.get("/account", account_token()).status_code == 401
        assert accounts.get("/account", world["token"]).status_code == 200


class TestRateLimitOnFakeRedis(RateLimitContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis
