"""Serving the API in-process (as `readmodel up` does) and the `readmodel serve` command's guard."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from projector.cli.main import main
from query_api.app import create_app
from query_api.server import serve_in_process
from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.unit.api_events import NOW, Api


def fetch(host: str, port: int, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_the_in_process_server_answers_over_http(fake_redis: Any) -> None:
    api = Api(fake_redis)
    ws = api.workspace("Alpha")
    owner, token = api.member(ws, "Ada", "owner")
    app = api.app(ws, owner, name="Planner")
    server = serve_in_process(
        create_app(Settings.from_env({}), redis=fake_redis, clock=NOW.timestamp), "127.0.0.1", 0
    )
    try:
        status, headers, body = fetch(server.host, server.port, f"/openapi/v1/apps?workspace_id={ws}", token)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert headers["x-frame-options"] == "DENY"
        assert [row["id"] for row in json.loads(body)["data"]] == [app]
        status, headers, body = fetch(server.host, server.port, "/openapi/v1/nope")
        assert (status, json.loads(body)["code"]) == (404, "not_found")
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):
        fetch(server.host, server.port, "/openapi/v1/_health")


def test_serve_refuses_the_embedded_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"], env={}) == 2
    assert "READMODEL_REDIS_URL" in capsys.readouterr().err


def test_create_app_needs_a_real_redis_url_without_a_client() -> None:
    with pytest.raises(ConfigurationError, match="READMODEL_REDIS_URL"):
        create_app(Settings.from_env({}))


def test_a_redis_that_lost_the_scripts_gets_them_again(fake_redis: Any) -> None:
    api = Api(fake_redis)
    ws = api.workspace("Alpha")
    _, token = api.member(ws)
    assert api.get("/apps", token, workspace_id=ws).status_code == 200
    fake_redis.script_flush()  # as after a Redis restart; never done on the shared real Redis
    result = api.get("/apps", token, workspace_id=ws)
    assert (result.status_code, result.json["total"]) == (200, 0)
