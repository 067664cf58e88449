"""Structured logs: one JSON object per line, the request id in it, and never a token."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from projector.migrations import migrate
from projector.store import create_engine_for
from query_api.app import create_app
from query_api.server import serve_in_process
from shared.logs import JsonFormatter, configure_logging, log_event, log_startup, scrub
from shared.settings import Settings
from tests.unit.api_events import Api, account_token, bearer
from tests.unit.test_api_http import closed_port

ADMIN = "admin-secret-4242"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record at DEBUG and above, as the processes write them, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(level=logging.DEBUG, stream=stream, secrets=[ADMIN])
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_event_fields(captured: io.StringIO) -> None:
    log_event(logging.getLogger("readmodel.test"), "progress", watermark=7, lag_events=3)
    (line,) = lines(captured)
    assert line["message"] == line["event"] == "progress"
    assert (line["watermark"], line["lag_events"], line["level"]) == (7, 3, "info")
    assert line["logger"] == "readmodel.test"
    assert "T" in line["ts"]


def test_exceptions_stay_on_one_line(captured: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("readmodel.test").exception("failed")
    (line,) = lines(captured)
    assert "ValueError: boom" in line["exception"]


def test_startup_logs_the_settings_redacted(captured: io.StringIO) -> None:
    settings = Settings.from_env(
        {
            "READMODEL_DATABASE_URL": "postgresql://rm:dbpass99@db:5432/rm",
            "READMODEL_ADMIN_TOKEN": ADMIN,
        }
    )
    log_startup(logging.getLogger("readmodel.test"), "serve", settings)
    text = captured.getvalue()
    (line,) = lines(captured)
    assert line["command"] == "serve"
    assert line["settings"]["admin_token"] == "set"
    assert "dbpass99" not in text
    assert ADMIN not in text


def test_alembic_says_which_upgrade_it_runs_and_nothing_else(captured: io.StringIO, tmp_path: Path) -> None:
    plugins = logging.getLogger("alembic.runtime.plugins")
    plugins.info("setup plugin %s", "alembic.autogenerate.schemas")  # logged once, at alembic's import
    plugins.warning("a plugin failed")

    migrate(create_engine_for(f"sqlite:///{tmp_path / 'events.db'}"))

    logged = lines(captured)
    messages = [
        line["message"]
        for line in logged
        if line["logger"].startswith("alembic") and line["level"] != "debug"
    ]
    assert messages[0] == "a plugin failed"
    # One line per revision it runs, each naming it.
    assert [message.split(" -> ")[0] for message in messages[1:]] == [
        "Running upgrade ",
        "Running upgrade 0001",
    ]


def test_every_request_leaves_one_access_line(fake_redis: Any, captured: io.StringIO) -> None:
    api = Api(fake_redis)
    ws = api.workspace("Alpha")
    _, token = api.member(ws, "Ada", "owner")
    captured.truncate(0)
    captured.seek(0)

    api.get("/apps", token, workspace_id=ws, headers={"X-Request-Id": "req-1"})
    api.client.simulate_get("/no/such/route", headers={"X-Request-Id": "req-2"})

    access = [line for line in lines(captured) if line["logger"] == "readmodel.access"]
    assert [
        (line["level"], line["message"], line["request_id"], line["method"], line["route"], line["status"])
        for line in access
    ] == [
        ("info", "request", "req-1", "GET", "/openapi/v1/apps", 200),
        ("info", "request", "req-2", "GET", "unmatched", 404),
    ]
    assert all(isinstance(line["duration_us"], int) and line["duration_us"] >= 0 for line in access)
    assert ws not in captured.getvalue()  # the route template, never the raw path


def test_the_access_log_can_be_turned_off(fake_redis: Any, captured: io.StringIO) -> None:
    api = Api(fake_redis, env={"READMODEL_ACCESS_LOG": "0"})
    api.client.simulate_get("/openapi/v1/_health")
    assert not [line for line in lines(captured) if line["logger"] == "readmodel.access"]


def test_scrub_masks_tokens_passwords_and_secrets() -> None:
    token = account_token()
    text = f"Authorization: Bearer {token} GET /ops?token=s3cret&x=1 redis://u:pw@h:1/0 {token} other"
    scrubbed = scrub(text, ["other"])
    assert token not in scrubbed
    assert "s3cret" not in scrubbed
    assert ":pw@" not in scrubbed
    assert "other" not in scrubbed
    assert "x=1" in scrubbed


def test_the_formatter_scrubs_what_callers_pass_in() -> None:
    token = account_token()
    record = logging.makeLogRecord({"msg": "saw %s", "args": (token,), "levelno": 20, "levelname": "INFO"})
    assert token not in JsonFormatter().format(record)


def test_no_token_reaches_the_log_while_requests_flow(fake_redis: Any, captured: io.StringIO) -> None:
    api = Api(fake_redis, env={"READMODEL_ADMIN_TOKEN": ADMIN})
    ws = api.workspace("Alpha")
    _, token = api.member(ws, "Ada", "owner")
    stranger = account_token()
    api.get("/apps", token, workspace_id=ws)
    api.get("/account", stranger)
    api.get("/account", headers={"Authorization": f"Bearer {token} extra"})
    api.client.simulate_get("/ops", params={"token": ADMIN})
    api.client.simulate_get("/ops/status.json", headers=bearer(ADMIN))
    # A failing read (Redis down) logs a warning with the request's id.
    down = Api(redis.Redis(port=closed_port(), socket_connect_timeout=1))
    failed = down.get("/account", token, headers={"X-Request-Id": "req-503"})
    assert failed.status_code == 503
    # And the in-process server logs each request line (query string included) at DEBUG.
    server = serve_in_process(
        create_app(Settings.from_env({"READMODEL_ADMIN_TOKEN": ADMIN}), redis=fake_redis), "127.0.0.1", 0
    )
    try:
        for url in (f"/ops?token={ADMIN}", f"/ops?x=1&token={token}"):
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}{url}", headers=bearer(token))
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as error:
                error.close()
    finally:
        server.stop()

    text = captured.getvalue()
    assert text, "nothing was logged: the test would prove nothing"
    assert "/ops?" in text  # the request lines are there, scrubbed
    for secret in (token, stranger, ADMIN):
        assert secret not in text
    warnings = [line for line in lines(captured) if line["level"] == "warning"]
    assert any(line.get("request_id") == "req-503" for line in warnings)
