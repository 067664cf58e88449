"""`readmodel serve` started the way users start it: granian worker processes on a real Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.test_api_real_redis import api_real_redis, api_redis_db, redis_url_for
from tests.support.serve import get, serving
from tests.unit.api_events import Api, bearer

pytestmark = pytest.mark.integration
__all__ = ["api_real_redis", "api_redis_db"]  # fixtures, shared with the suites on real Redis


def test_serve_answers_from_the_real_redis(api_real_redis: Any, api_redis_db: int, tmp_path: Path) -> None:
    api = Api(api_real_redis)
    ws = api.workspace("Alpha")
    owner = api.account("Ada")
    api.join(ws, owner, "owner")
    token = api.login(owner, expires_at=None)  # the server judges expiry by the real clock
    app = api.app(ws, owner, name="Planner")
    with serving(redis_url_for(api_redis_db), 2, tmp_path) as served:
        status, body = get(f"{served.base}/apps?workspace_id={ws}", bearer(token))
        assert status == 200, body
        assert [row["id"] for row in body["data"]] == [app]
        status, body = get(f"{served.base}/apps?workspace_id={ws}")
        assert (status, body["message"]) == (401, "bearer required")
    lines = [json.loads(line) for line in served.log.read_text().splitlines() if line.startswith("{")]
    starting = next(line for line in lines if line["message"] == "starting")
    listening = urlsplit(served.base)
    assert (starting["settings"]["host"], starting["settings"]["port"]) == (
        listening.hostname,
        listening.port,
    )
    access = [(line["route"], line["status"]) for line in lines if line["logger"] == "readmodel.access"]
    assert ("/openapi/v1/apps", 200) in access
    assert ("/openapi/v1/apps", 401) in access
