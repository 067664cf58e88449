"""A poison row, a burst after a long idle spell, a part that dies: `readmodel up` as an operator sees it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from projector.dead_letters import DeadLetterStore
from tests.e2e.faults import append_history, event_store
from tests.fixtures.redis_server import free_port
from tests.support.processes import assert_stops_in_time, command_env, http_get, started
from tests.support.rows import insert_row

pytestmark = pytest.mark.slow


def _ready(base: str) -> tuple[int, dict[str, Any]]:
    status, _, body = http_get(f"{base}/_ready")
    return status, body or {}


def _ready_at(base: str, position: int) -> bool:
    """Ready, and serving from the given watermark."""
    status, body = _ready(base)
    return status == 200 and body.get("watermark") == position


def test_a_poison_row_is_dead_lettered_and_everything_else_flows(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}/openapi/v1"
    with (
        event_store(database) as store,
        started(["up", "--port", str(port)], command_env(READMODEL_DATABASE_URL=database), tmp_path) as up,
    ):
        token = up.value("dev token:")
        up.wait_for(lambda: _ready(base)[1].get("watermark") == store.head_position(), "the demo")

        workspace = "5b1c2f4e-0d55-4a43-9a0e-2f1f6a3b7c11"
        poison = insert_row(store, f"workspace:{workspace}", 1, workspace, "workspace.created", "{not json")

        # Dead-lettered, and not holding the watermark or readiness: at the head within moments.
        letters = DeadLetterStore(store.engine)
        up.wait_for(lambda: letters.positions_after(0, 10) == [poison], "the dead letter")
        up.wait_for(lambda: _ready_at(base, poison), "the watermark to pass it")

        head = append_history(store)  # what comes after it flows
        up.wait_for(lambda: _ready_at(base, head), "the events after the poison row")
        assert http_get(f"{base}/workspaces", token)[0] == 200
        assert up.logged("dead letter")[0]["level"] == "error"
        assert assert_stops_in_time(up) == 0


def test_up_exits_with_one_line_when_its_relay_dies(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    port = free_port()
    with (
        event_store(database) as store,
        started(["up", "--port", str(port)], command_env(READMODEL_DATABASE_URL=database), tmp_path) as up,
    ):
        up.wait_for(lambda: _ready(f"http://127.0.0.1:{port}/openapi/v1")[0] == 200, "the API to be ready")
        # A row SQLite hands back with a timestamp no reader can parse: the relay thread dies
        # on it (a fault outside the contract, like a bug would be).
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO events (id, type, schema, stream, version, workspace_id, occurred_at, data, "
                "recorded_at) VALUES ('9b2e6f3a-1c4d-4e5f-8a9b-0c1d2e3f4a5b', 'account.created', 1, "
                "'account:9b2e6f3a-1c4d-4e5f-8a9b-0c1d2e3f4a5b', 1, NULL, '2025-01-01T00:00:00+00:00', "
                "'{}', 'not a time')"
            )
        code = up.wait_exit(30)

        assert code == 1
        (line,) = [line for line in up.lines() if line.startswith("readmodel:")]
        assert line.startswith("readmodel: the relay stopped: ")
        assert line.endswith("; exiting so that a supervisor restarts the read model")


def test_a_burst_after_a_long_idle_spell_never_fails_readiness(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}/openapi/v1"
    stall = 2.0
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_STALL_SECONDS=str(stall))
    with event_store(database) as store, started(["up", "--port", str(port)], env, tmp_path) as up:
        up.wait_for(lambda: _ready(base)[1].get("watermark") == store.head_position(), "the demo")
        answers: list[tuple[int, int]] = []
        waited = False
        for _ in range(5):  # until a probe lands while the burst waits (the projector is quick)
            idle_until = time.monotonic() + 2.5 * stall  # idle, probed now and then
            while time.monotonic() < idle_until:
                assert _ready(base)[0] == 200
                time.sleep(0.5)
            head = append_history(store, workspaces=30, apps=10)
            while True:
                status, body = _ready(base)
                answers.append((status, int(body.get("lag_events") or 0)))
                if body.get("watermark") == head:
                    break
                time.sleep(0.01)
            waited = any(lag > 0 for _, lag in answers)
            if waited:
                break
        assert waited, "no probe saw the burst waiting: the test proved nothing"
        assert {status for status, _ in answers} == {200}, answers
        assert assert_stops_in_time(up) == 0
