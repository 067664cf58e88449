"""`readmodel up` as a user starts it: one process, embedded defaults, a demo to try."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.redis_server import free_port
from tests.support.cli import READMODEL
from tests.support.processes import http_get


class Up:
    def __init__(self, process: subprocess.Popen[str], base: str, lines: list[str]) -> None:
        self.process = process
        self.base = base
        self.lines = lines

    def value(self, label: str) -> str:
        return next(line.split()[-1] for line in self.lines if line.startswith(label))


def start_up(cwd: Path, env: dict[str, str], port: int, *extra: str) -> Up:
    """`readmodel up` on `port`, once it serves: its lines so far, stdout and stderr merged."""
    process = subprocess.Popen(
        [READMODEL, "up", "--port", str(port), *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while not (any("serving" in line for line in lines) and any(line.startswith("try:") for line in lines)):
        line = process.stdout.readline()
        assert line, f"readmodel up exited early:\n{''.join(lines)}"
        lines.append(line)
        assert time.monotonic() < deadline, "".join(lines)
    base = f"http://127.0.0.1:{port}/openapi/v1"
    while True:  # the port answers at once; the read model is built (and granian up) a moment later
        try:
            urllib.request.urlopen(f"{base}/_ready", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
    return Up(process, base, lines)


def stop(up: Up) -> None:
    up.process.send_signal(signal.SIGTERM)
    try:
        up.process.wait(20)
    except subprocess.TimeoutExpired:
        up.process.kill()
        pytest.fail("readmodel up did not stop on SIGTERM")
    finally:
        assert up.process.stdout is not None
        up.process.stdout.close()


def plain_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("READMODEL_")}
    env["READMODEL_METRICS_PORT"] = str(free_port())
    return env


@pytest.fixture(params=["embedded", "redis-cluster"])
def up(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Up]:
    """`readmodel up` on embedded defaults, and on a three-master Redis Cluster."""
    env = plain_env()
    if request.param == "redis-cluster":
        request.getfixturevalue("redis_cluster")  # emptied before and after
        env["READMODEL_REDIS_URL"] = request.getfixturevalue("redis_cluster_url")
    running = start_up(tmp_path, env, free_port())
    try:
        yield running
    finally:
        stop(running)


def test_a_second_start_prints_the_token_again_and_logs_the_port_it_listens_on(tmp_path: Path) -> None:
    env = plain_env()
    first = start_up(tmp_path, env, free_port())
    stop(first)
    port = free_port()
    second = start_up(tmp_path, env, port)
    try:
        assert not any(line.startswith("demo history:") for line in second.lines)  # not seeded again
        assert second.value("dev token:") == first.value("dev token:")
        assert second.value("workspace:") == first.value("workspace:")
        assert any(line.startswith("try:") and f":{port}/openapi/v1/apps" in line for line in second.lines)
        logged = [json.loads(line) for line in second.lines if line.startswith("{")]
        assert not [line for line in logged if line["level"] == "warning"]  # building heals nothing
        assert not [line for line in logged if line["message"].startswith("setup plugin")]
        starting = next(line for line in logged if line["message"] == "starting")
        assert starting["settings"]["port"] == port
        status, _, _ = http_get(
            f"{second.base}/apps?workspace_id={second.value('workspace:')}", second.value("dev token:")
        )
        assert status == 200
    finally:
        stop(second)


def test_up_serves_the_demo_and_picks_up_events_appended_by_another_process(up: Up, tmp_path: Path) -> None:
    token = up.value("dev token:")
    workspace = up.value("workspace:")
    status, headers, body = http_get(f"{up.base}/apps?workspace_id={workspace}", token)
    assert status == 200
    assert set(body) == {"page", "limit", "total", "has_more", "data"}
    assert body["total"] > 0
    assert int(headers["x-readmodel-position"]) > 0

    _, _, account = http_get(f"{up.base}/account", token)
    env = {k: v for k, v in os.environ.items() if not k.startswith("READMODEL_")}
    issued = subprocess.run(
        [READMODEL, "token", "issue", "--account", account["account"]["id"], "--label", "second laptop"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    second = issued.stdout.strip().splitlines()[-1]
    assert second.startswith("dfoa_")
    deadline = time.monotonic() + 10
    while True:
        status, _, sessions = http_get(f"{up.base}/account/sessions", second)
        if status == 200:
            break
        assert time.monotonic() < deadline, sessions
        time.sleep(0.1)
    assert "second laptop" in {row["device_label"] for row in sessions["data"]}


def test_up_answers_unknown_routes_and_bad_tokens_with_the_contract_errors(up: Up) -> None:
    status, headers, body = http_get(f"{up.base}/nope")
    assert (status, body["code"]) == (404, "not_found")
    assert headers["content-type"].startswith("application/json")
    status, headers, body = http_get(f"{up.base}/apps?workspace_id=x", "dfoa_not-a-real-token")
    assert (status, body["message"]) == (401, "token unknown or revoked")
    assert headers["www-authenticate"] == 'Bearer realm="api"'


def test_the_metrics_of_up_show_its_projector_beside_its_api(up: Up) -> None:
    http_get(f"{up.base}/_health")
    metrics = up.base.removesuffix("/openapi/v1") + "/metrics"
    deadline = time.monotonic() + 30
    while True:  # the sampler sets the positions within its first round after the read model is built
        with urllib.request.urlopen(metrics, timeout=5) as response:
            text = response.read().decode()
        values = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line
        }
        if (
            values.get("readmodel_store_head_position", 0) > 0
            and values.get("readmodel_projector_watermark", 0) > 0
        ):
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    assert values["readmodel_projector_lag_events"] >= 0
    assert 'readmodel_http_request_duration_seconds_count{method="GET",route="/openapi/v1/_health"' in text
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "a metric family is exposed twice"
    assert "_created" not in text
