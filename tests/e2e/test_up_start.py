"""`readmodel up` over a large store: the port first, then the rebuild, with progress and 503s meanwhile."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.faults import copy_store, write_large_store
from tests.fixtures.redis_server import RedisServer, free_port
from tests.support.processes import assert_stops_in_time, command_env, http_get, run_command, started

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("redis", ["embedded", "real"])
def test_a_busy_port_is_reported_before_the_start_up_rebuild(
    redis: str, tmp_path: Path, large_store: Path, request: pytest.FixtureRequest
) -> None:
    database = copy_store(large_store, tmp_path)
    url = "embedded" if redis == "embedded" else request.getfixturevalue("redis_server").url
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=url)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = run_command(["up", "--port", str(port), "--workers", "1"], env, tmp_path)

    assert code == 2
    (line,) = [line for line in output.splitlines() if line.startswith("readmodel:")]
    assert line == f"readmodel: READMODEL_PORT: cannot listen on 127.0.0.1:{port} (Address already in use)"
    assert "rebuild" not in output  # reported before any of the rebuild's work
    assert "Traceback" not in output


@pytest.mark.parametrize("redis", ["embedded", "real"])
def test_up_answers_503_and_logs_progress_during_its_start_up_rebuild(
    redis: str, tmp_path: Path, large_store: Path, request: pytest.FixtureRequest
) -> None:
    if redis == "embedded":  # the in-process stand-in is slow: a smaller store takes seconds
        path = tmp_path / "events.db"
        events = write_large_store(path, workspaces=20, apps=20)
        env = command_env(READMODEL_DATABASE_URL=f"sqlite:///{path}", READMODEL_REDIS_URL="embedded")
    else:
        events = 20050
        server: RedisServer = request.getfixturevalue("redis_server")
        env = command_env(
            READMODEL_DATABASE_URL=copy_store(large_store, tmp_path), READMODEL_REDIS_URL=server.url
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}/openapi/v1"
    with started(["up", "--port", str(port), "--workers", "1"], env, tmp_path) as up:
        up.wait_for(lambda: http_get(f"{base}/_health")[0] == 200, "the port to answer")
        up.wait_for(lambda: up.logged("rebuild progress"), "the rebuild's progress")
        # Still building: not ready, and no caller is told "token unknown" meanwhile.
        status, headers, body = http_get(f"{base}/apps?workspace_id=x", "dfoa_anything")
        if status == 503:
            assert body["code"] == "service_unavailable"
            assert headers["retry-after"] == "5"
        else:  # only a finished read model may answer otherwise (401: that token is unknown)
            assert up.logged("read model built") or up.logged("read model rebuilt"), (status, body)
        up.wait_for(lambda: http_get(f"{base}/_ready")[0] == 200, "the read model to be built", timeout=120)
        progress = up.logged("rebuild progress")
        assert progress[-1]["events"] == progress[-1]["total"] == events
        assert assert_stops_in_time(up) == 0
