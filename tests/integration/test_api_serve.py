"""`readmodel serve` started the way users start it: granian worker processes on a real Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_api_real_redis import api_real_redis, api_redis_db, redis_url_for
from tests.unit.api_events import Api, bearer

pytestmark = pytest.mark.integration
__all__ = ["api_real_redis", "api_redis_db"]  # fixtures, shared with the suites on real Redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_answers_from_the_real_redis(api_real_redis: Any, api_redis_db: int, tmp_path: Path) -> None:
    api = Api(api_real_redis)
    ws = api.workspace("Alpha")
    owner = api.account("Ada")
    api.join(ws, owner, "owner")
    token = api.login(owner, expires_at=None)  # the server judges expiry by the real clock
    app = api.app(ws, owner, name="Planner")
    redis_url = redis_url_for(api_redis_db)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from projector.cli.main import main; raise SystemExit(main())",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env={**os.environ, "READMODEL_REDIS_URL": redis_url},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}/openapi/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if get(f"{base}/_health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "readmodel serve did not come up"
            time.sleep(0.2)
        status, body = get(f"{base}/apps?workspace_id={ws}", bearer(token))
        assert status == 200, body
        assert [row["id"] for row in body["data"]] == [app]
        status, body = get(f"{base}/apps?workspace_id={ws}")
        assert (status, body["message"]) == (401, "bearer required")
    finally:
        os.kill(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal reaches the server
        try:
            process.wait(timeout=30)
            stopped = True
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            stopped = False
        log.close()
    assert stopped, "readmodel serve did not stop on SIGINT"
