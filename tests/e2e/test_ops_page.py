"""The /ops status page in a real headless Chromium: it loads, shows live figures, logs no errors.

The screenshot goes to `test-output/ops_page.png` in the repository root (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projector.dead_letters import DeadLetter, DeadLetterStore
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.store import EventStore, create_engine_for
from projector.writer import RedisProjector
from query_api.app import create_app
from query_api.operations import SqlStoreProbe
from query_api.server import InProcessServer, serve_in_process
from shared.settings import Settings
from tests.unit.api_events import History
from tests.unit.test_metrics import workspace_history

ADMIN = "ops-page-admin-token"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


def chromium() -> str:
    """The chromium binary, installed with apt when missing (as root only); else skip."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    install = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    found = shutil.which("chromium")
    if install.returncode != 0 or found is None:
        pytest.skip(f"apt-get install chromium failed: {install.stderr[-500:]}")
    return found


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture
def server(tmp_path: Path, fake_redis: Any) -> Iterator[InProcessServer]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'events.db'}")
    migrate(engine)
    store = EventStore(engine)
    history = History()
    store.append(workspace_history(history, apps=4))
    store.append(workspace_history(history, apps=2))
    ensure_live_generation(fake_redis)
    RedisProjector(fake_redis, store).apply(store.read_after(0, 1000))
    store.append(workspace_history(history, apps=1))  # a lag of four events
    letters = DeadLetterStore(engine)
    letters.create_schema()
    letters.record([DeadLetter(reason="undecodable message: not JSON", body=b"{")])
    settings = Settings.from_env({"READMODEL_ADMIN_TOKEN": ADMIN})
    app = create_app(settings, redis=fake_redis, head_probe=SqlStoreProbe(engine))
    running = serve_in_process(app, "127.0.0.1", 0)
    try:
        yield running
    finally:
        running.stop()
        engine.dispose()


def figure(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert match, f"#{element_id} is not in the page"
    return match.group(1)


def test_the_page_answers_401_without_the_admin_token(server: InProcessServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/ops", timeout=5)
    assert refused.value.code == 401
    refused.value.close()


def test_the_page_shows_live_figures_in_chromium(server: InProcessServer, tmp_path: Path) -> None:
    binary = chromium()
    url = f"http://127.0.0.1:{server.port}/ops?token={ADMIN}"
    dumped = run_chromium(
        binary,
        tmp_path / "profile-dom",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        "--dump-dom",
        url,
    )
    dom = dumped.stdout
    assert "Read model status" in dom, dumped.stderr[-2000:]
    console = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not [line for line in console if "Uncaught" in line or "Refused" in line], console
    assert figure(dom, "store-head") == "16"
    assert figure(dom, "watermark") == "12"
    assert figure(dom, "lag-events") == "4"
    assert figure(dom, "dead-letter-count") == "1"
    assert figure(dom, "ready") in ("ready", "not ready")
    assert "undecodable message: not JSON" in dom
    assert "<polyline" in dom  # the lag chart was drawn
    assert "/openapi/v1" not in figure(dom, "error")

    OUTPUT.mkdir(exist_ok=True)
    screenshot = OUTPUT / "ops_page.png"
    screenshot.unlink(missing_ok=True)
    shot = run_chromium(
        binary,
        tmp_path / "profile-shot",
        "--virtual-time-budget=8000",
        f"--screenshot={screenshot}",
        url,
    )
    assert screenshot.exists(), shot.stderr[-2000:]
    assert screenshot.stat().st_size > 10_000
