"""HTTP behaviour shared by every route: headers, errors, conditional GET, the OpenAPI document."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from query_api.app import openapi_document
from query_api.errors import ROUTE_NOT_FOUND
from query_api.routes import BASE, Access, route_table
from shared.readmodel import keys
from tests.unit.api_events import (
    Api,
    ApiContract,
    account_token,
    assert_error,
    assert_headers,
    new_id,
)


class HttpContract(ApiContract):
    def tagged_routes(self, world: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        app = world["app"]
        return [
            ("/apps", {"workspace_id": world["ws"]}),
            (f"/apps/{app}", {}),
            (f"/apps/{app}/parameters", {}),
            (f"/apps/{app}/describe", {}),
            ("/workspaces", {}),
            (f"/workspaces/{world['ws']}", {}),
            (f"/workspaces/{world['ws']}/members", {}),
            ("/account", {}),
            ("/account/sessions", {}),
        ]

    # --- headers ---------------------------------------------------------------------------

    def test_unknown_routes_are_404_not_found(self, api: Api, world: dict[str, Any]) -> None:
        for path in (
            "/nope",
            "/apps/",
            "/apps/x/y/z",
            "/account/sessions/abc",
            "",
            "/workspaces/",
            "/permitted-external-apps",
        ):
            result = api.get(path, world["token"])
            assert_error(result, 404, "not_found", ROUTE_NOT_FOUND)
        outside = api.client.simulate_get("/v2/apps")
        assert_error(outside, 404, "not_found", ROUTE_NOT_FOUND)

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def test_other_methods_are_405(self, api: Api, world: dict[str, Any], method: str) -> None:
        for path in ("/apps", f"/apps/{world['app']}/describe", "/account/sessions", "/_health"):
            result = api.client.simulate_request(
                method, f"{BASE}{path}", headers={"Authorization": f"Bearer {world['token']}"}
            )
            assert result.status_code == 405
            if method != "HEAD":
                assert_error(
                    result, 405, "method_not_allowed", "The method is not allowed for the requested URL."
                )
            assert result.headers["allow"] == "GET"
            assert result.headers["x-frame-options"] == "DENY"

    def test_the_position_is_the_watermark_read(self, api: Api, world: dict[str, Any]) -> None:
        result = api.get("/apps", world["token"], workspace_id=world["ws"])
        assert result.headers["x-readmodel-position"] == str(api.projected)
        api.app(world["ws"], world["owner"])
        result = api.get("/account", world["token"])
        assert result.headers["x-readmodel-position"] == str(api.projected)
        # A refusal after reading reports what it read; one before reading, the last seen.
        assert api.get("/account", account_token()).headers["x-readmodel-position"] == str(api.projected)
        assert api.get("/account").headers["x-readmodel-position"] == str(api.projected)
        assert api.get("/nope").headers["x-readmodel-position"] == str(api.projected)
        assert api.get("/_version").headers["x-readmodel-position"] == str(api.projected)

    def test_before_any_read_the_position_is_zero(self, api: Api, world: dict[str, Any]) -> None:
        for path in ("/_health", "/_version", "/openapi.json", "/nope"):
            result = api.get(path)
            assert_headers(result)
            assert result.headers["x-readmodel-position"] == "0"

    def test_public_routes(self, api: Api) -> None:
        assert api.get("/_health").json == {"ok": True}
        assert api.get("/_version").json == {"version": "1.14.2", "edition": "SELF_HOSTED"}
        assert api.get("/openapi.json").json["openapi"].startswith("3.1")

    def test_the_version_is_a_setting(self, redis_client: Any) -> None:
        api = Api(redis_client, env={"READMODEL_DIFY_VERSION": "1.15.2"})
        assert api.get("/_version").json["version"] == "1.15.2"

    @pytest.mark.parametrize(
        ("edition", "reported"),
        [("SELF_HOSTED", "SELF_HOSTED"), ("CLOUD", "CLOUD"), ("ENTERPRISE", "SELF_HOSTED")],
    )
    def test_the_edition_is_a_setting(self, redis_client: Any, edition: str, reported: str) -> None:
        # Dify reports its EDITION setting; an enterprise install is a self-hosted one there.
        api = Api(redis_client, env={"READMODEL_DIFY_EDITION": edition})
        assert api.get("/_version").json == {"version": "1.14.2", "edition": reported}

    # --- conditional GET -------------------------------------------------------------------

    def test_every_tagged_route_answers_304_to_its_own_tag(self, api: Api, world: dict[str, Any]) -> None:
        for path, params in self.tagged_routes(world):
            first = api.get(path, world["token"], **params)
            tag = first.headers["etag"]
            assert tag[0] == tag[-1] == '"'
            assert len(tag) > 8
            again = api.get(path, world["token"], headers={"If-None-Match": tag}, **params)
            assert again.status_code == 304, path
            assert again.content == b""
            assert again.headers["etag"] == tag
            assert_headers(again)
            weak = api.get(path, world["token"], headers={"If-None-Match": f'"other", W/{tag}'}, **params)
            assert weak.status_code == 304
            assert api.get(path, world["token"], headers={"If-None-Match": "*"}, **params).status_code == 304
            fresh = api.get(path, world["token"], headers={"If-None-Match": '"stale"'}, **params)
            assert (fresh.status_code, fresh.content) == (200, first.content)

    def test_the_tag_changes_with_the_body(self, api: Api, world: dict[str, Any]) -> None:
        first = api.get(f"/apps/{world['app']}", world["token"])
        api.project(api.history.app_updated(world["app"], world["ws"], name="Renamed"))
        second = api.get(
            f"/apps/{world['app']}", world["token"], headers={"If-None-Match": first.headers["etag"]}
        )
        assert second.status_code == 200
        assert second.json["name"] == "Renamed"
        assert second.headers["etag"] != first.headers["etag"]

    def test_a_tag_is_only_honoured_after_the_auth_chain(self, api: Api, world: dict[str, Any]) -> None:
        tag = api.get("/apps", world["token"], workspace_id=world["ws"]).headers["etag"]
        refused = api.get("/apps", account_token(), headers={"If-None-Match": tag}, workspace_id=world["ws"])
        assert_error(refused, 401, "unauthorized", "token unknown or revoked")
        _, stranger = api.member(api.workspace("Beta"), "Eve")
        refused = api.get("/apps", stranger, headers={"If-None-Match": tag}, workspace_id=world["ws"])
        assert_error(refused, 404, "not_found", "workspace not found")

    def test_tags_are_never_shared_across_callers(self, api: Api, world: dict[str, Any]) -> None:
        _, colleague = api.member(world["ws"], "Bob")
        mine = api.get(f"/apps/{world['app']}", world["token"])
        theirs = api.get(f"/apps/{world['app']}", colleague, headers={"If-None-Match": mine.headers["etag"]})
        assert theirs.status_code == 200
        assert theirs.content == mine.content
        assert theirs.headers["etag"] != mine.headers["etag"]

    # --- failures --------------------------------------------------------------------------

    def test_an_unexpected_failure_is_a_bare_500(self, api: Api, world: dict[str, Any]) -> None:
        generation = api.redis.get(keys.LIVE_POINTER).decode()
        api.redis.hset(
            keys.full_key(generation, keys.account_workspaces(world["owner"])), world["ws"], b"{broken"
        )
        result = api.get("/workspaces", world["token"])
        assert_error(result, 500, "internal_server_error", "Internal Server Error")

    @pytest.mark.parametrize(
        "query",
        [
            "workspace_id=%ff%fe&page=%00",
            "workspace_id=" + "a" * 5000,
            "name=%ED%A0%80&workspace_id=00000000-0000-0000-0000-000000000000",
            "page=1&page=x&workspace_id=00000000-0000-0000-0000-000000000000",
            "tag=%00&mode=%0A&workspace_id=00000000-0000-0000-0000-000000000000",
            "limit=99999999999999999999999999999&workspace_id=00000000-0000-0000-0000-000000000000",
        ],
    )
    def test_malformed_input_never_yields_a_500(self, api: Api, world: dict[str, Any], query: str) -> None:
        result = api.client.simulate_get(
            f"{BASE}/apps", query_string=query, headers={"Authorization": f"Bearer {world['token']}"}
        )
        assert 400 <= result.status_code < 500, result.text
        assert_headers(result)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


UNAVAILABLE = "The service is temporarily unavailable, please try again later."


def test_an_unreachable_redis_is_a_503_to_retry() -> None:
    client = redis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=1)
    api = Api(client)
    result = api.get("/account", account_token())
    assert_error(result, 503, "service_unavailable", UNAVAILABLE)
    assert result.headers["retry-after"] == "5"
    assert api.get("/_health").status_code == 200  # liveness does not read Redis


def test_a_read_model_not_built_yet_is_a_503_to_retry_not_an_unknown_token(fake_redis: Any) -> None:
    api = Api(fake_redis)  # no live generation: nothing has been projected
    result = api.get("/apps", account_token(), workspace_id=new_id())
    assert_error(result, 503, "service_unavailable", UNAVAILABLE)
    assert result.headers["retry-after"] == "5"


# --- the OpenAPI document --------------------------------------------------------------------


def served_routes() -> dict[str, Access]:
    """The route table create_app registers, by path under the base.

    Routes outside the base (/metrics and the admin status page under /ops) are operational,
    not part of the Dify surface, and deliberately left out of the public document.
    """
    parts = SimpleNamespace(
        apps=None, app=None, workspaces=None, workspace=None, account=None, sessions=None, ops=None,
        ready=None, metrics=None, ops_page=None,
    )  # fmt: skip
    return {
        route.uri.removeprefix(BASE): route.access
        for route in route_table(parts)
        if route.uri.startswith(f"{BASE}/")
    }


def test_the_document_describes_exactly_the_served_routes() -> None:
    document = json.loads(openapi_document())
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == set(served_routes())
    for path, item in document["paths"].items():
        assert list(item) == ["get"], path


def test_protected_routes_declare_bearer_and_public_ones_do_not() -> None:
    document = json.loads(openapi_document())
    for path, access in served_routes().items():
        security = document["paths"][path]["get"]["security"]
        assert (security == []) is (access is Access.PUBLIC), path
        responses = document["paths"][path]["get"]["responses"]
        assert ("401" in responses) is (access is not Access.PUBLIC), path


class OpenApiStatusContract(ApiContract):
    """Every status the document lists is one the route really answers, and the reverse."""

    def examples(self, api: Api) -> dict[tuple[str, str], Callable[[], Any]]:
        ws = api.workspace("Alpha")
        owner, token = api.member(ws, "Ada", "owner")
        _, stranger = api.member(api.workspace("Beta"), "Eve")
        app = api.app(ws, owner)
        bare = api.app(ws, owner)
        api.project(api.history.model_config_published(app, ws))
        down = Api(redis.Redis(port=closed_port(), socket_connect_timeout=1))
        limited = Api(api.redis, {"OPENAPI_RATE_LIMIT_PER_TOKEN": "1"})

        def spent(path: str, **params: Any) -> Any:
            """The second request of a token with a budget of one."""
            once = account_token()
            limited.get(path, once, **params)
            return limited.get(path, once, **params)

        def tag_of(path: str, **params: Any) -> dict[str, str]:
            return {"If-None-Match": api.get(path, token, **params).headers["etag"]}

        get = api.get
        sso = api.sso_login("sso@example.com", None)
        examples: dict[tuple[str, str], Callable[[], Any]] = {}
        for path, params in [
            ("/apps", {"workspace_id": ws}),
            (f"/apps/{app}", {}),
            (f"/apps/{app}/parameters", {}),
            (f"/apps/{app}/describe", {}),
            ("/workspaces", {}),
            (f"/workspaces/{ws}", {}),
            (f"/workspaces/{ws}/members", {}),
            ("/account", {}),
            ("/account/sessions", {}),
        ]:
            route = path.replace(app, "{app_id}").replace(ws, "{workspace_id}")
            examples[(route, "200")] = lambda p=path, q=params: get(p, token, **q)
            examples[(route, "304")] = lambda p=path, q=params: get(p, token, headers=tag_of(p, **q), **q)
            examples[(route, "401")] = lambda p=path, q=params: get(p, None, **q)
            examples[(route, "403")] = lambda p=path, q=params: get(p, sso, **q)
            examples[(route, "503")] = lambda p=path, q=params: down.get(p, account_token(), **q)
            examples[(route, "429")] = lambda p=path, q=params: spent(p, **q)
            if route.startswith("/apps/"):
                examples[(route, "422")] = lambda p=path: get(p, token, workspace_id=new_id())
        for route in ("/_version", "/_health", "/openapi.json", "/_ready"):
            examples[(route, "200")] = lambda p=route: get(p)
        examples[("/_ready", "503")] = lambda: down.get("/_ready")
        examples[("/apps", "400")] = lambda: get("/apps", token, workspace_id=ws, mode="rag-pipeline")
        examples[("/apps", "404")] = lambda: get("/apps", stranger, workspace_id=ws)
        examples[("/apps", "422")] = lambda: get("/apps", token, workspace_id=ws, page="0")
        examples[("/account/sessions", "422")] = lambda: get("/account/sessions", token, page="0")
        examples[("/workspaces/{workspace_id}", "404")] = lambda: get(f"/workspaces/{ws}", stranger)
        examples[("/workspaces/{workspace_id}/members", "404")] = lambda: get(
            f"/workspaces/{ws}/members", stranger
        )
        examples[("/workspaces/{workspace_id}/members", "422")] = lambda: get(
            f"/workspaces/{ws}/members", token, x="1"
        )
        examples[("/apps/{app_id}/parameters", "400")] = lambda: get(f"/apps/{bare}/parameters", token)
        for suffix in ("", "/parameters", "/describe"):
            examples[(f"/apps/{{app_id}}{suffix}", "404")] = lambda s=suffix: get(
                f"/apps/{new_id()}{s}", token
            )
        return examples

    def test_documented_statuses_are_exactly_the_answered_ones(self, api: Api) -> None:
        document = json.loads(openapi_document())
        documented = {
            (path, status) for path, item in document["paths"].items() for status in item["get"]["responses"]
        }
        examples = self.examples(api)
        assert documented == set(examples)
        for (path, status), request in sorted(examples.items()):
            result = request()
            assert result.status_code == int(status), (path, status, result.text)
            assert_headers(result)


class TestHttpOnFakeRedis(HttpContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis


class TestOpenApiStatusesOnFakeRedis(OpenApiStatusContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis
