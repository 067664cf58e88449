"""The /ops status page in a real headless Chromium: sign-in, live figures, no errors logged.

The screenshot goes to `test-output/ops_page.png` in the repository root (git-ignored).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
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


def _above(fd: int, lowest: int) -> int:
    """A duplicate of `fd` numbered `lowest` or more; `fd` itself is closed."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.close(fd)
    return moved


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (its fds 3 and 4).

    Enough of the protocol to sign in through the form, read the page and take a
    screenshot, with nothing to install beyond Chromium itself.
    """

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, commands = os.pipe()
        answers, from_browser = os.pipe()
        # Above 4, so that placing them on 3 and 4 cannot overwrite one with the other.
        to_browser, from_browser = (_above(fd, 10) for fd in (to_browser, from_browser))
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash puts the pipe ends where Chromium expects them (dash refuses fds past 9).
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
        self.process = subprocess.Popen(
            ["bash", "-c", script, binary, *flags],
            pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._commands, self._answers = commands, answers
        self._buffer = b""
        self._last_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session: str | None = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if getattr(self, "_session", None) is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") != self._last_id:
                    self.events.append(answer)
                    continue
                assert "error" not in answer, (method, answer["error"])
                return answer["result"]
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"Chromium did not answer {method}"
            ready, _, _ = select.select([self._answers], [], [], remaining)
            if ready:
                chunk = os.read(self._answers, 1 << 16)
                assert chunk, "Chromium closed its pipe"
                self._buffer += chunk

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll a page expression until it is truthy (the page polls its data every 3 s)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.2)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && location.href === {json.dumps(url)}")

    def submit(self, token: str) -> None:
        """Type the token into the sign-in form and send it, as a person would."""
        before = self.evaluate("performance.timeOrigin")
        self.evaluate(
            f"document.getElementById('token').value = {json.dumps(token)};"
            "document.querySelector('form').requestSubmit()"
        )
        self.wait_for(f"performance.timeOrigin !== {before} && document.readyState === 'complete'")

    def errors(self) -> list[Any]:
        """Uncaught exceptions, console errors and refusals (CSP) the page logged."""
        found: list[Any] = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(params["args"])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                if entry.get("source") == "network" and "status of 401" in entry.get("text", ""):
                    continue  # the sign-in page itself answers 401
                if entry.get("url", "").endswith("/favicon.ico"):
                    continue  # asked for by the browser, not by the page
                found.append(entry)
        return found

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (AssertionError, OSError):
            self.process.kill()
        finally:
            self.process.wait(30)
            os.close(self._commands)
            os.close(self._answers)


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
    letters.record([DeadLetter(reason="undecodable message: not JSON", body=b"{")])
    settings = Settings.from_env({"READMODEL_ADMIN_TOKEN": ADMIN})
    app = create_app(settings, redis=fake_redis, head_probe=SqlStoreProbe(engine))
    running = serve_in_process(app, "127.0.0.1", 0)
    try:
        yield running
    finally:
        running.stop()
        engine.dispose()


def test_the_page_answers_401_without_the_admin_token(server: InProcessServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/ops", timeout=5)
    assert refused.value.code == 401
    refused.value.close()


def text(browser: Browser, element_id: str) -> str:
    return browser.evaluate(f"document.getElementById({json.dumps(element_id)}).textContent")


def test_signing_in_and_the_live_figures_in_chromium(server: InProcessServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{server.port}"
    urllib.request.urlopen(f"{base}/openapi/v1/_health", timeout=5).close()  # a row for the requests table
    browser = Browser(chromium(), tmp_path / "profile")
    try:
        browser.open(f"{base}/ops")
        assert browser.evaluate("document.getElementById('refused').hidden") is True
        browser.submit("not-the-admin-token")
        assert browser.evaluate("document.getElementById('refused').hidden") is False
        assert text(browser, "refused").startswith("Wrong token")
        assert browser.evaluate("location.search") == ""  # the token never went into the address

        browser.submit(ADMIN)

        assert browser.evaluate("location.pathname + location.search") == "/ops"
        browser.wait_for("document.getElementById('store-head').textContent === '16'")
        assert text(browser, "watermark") == "12"
        assert text(browser, "lag-events") == "4"
        assert text(browser, "dead-letter-count") == "1"
        assert text(browser, "ready") in ("ready", "not ready")
        assert "undecodable message: not JSON" in text(browser, "dead-letters")
        assert "/openapi/v1" not in text(browser, "error")
        # Workspaces by name, beside their ids.
        rows = browser.evaluate(
            "[...document.querySelectorAll('#workspaces tr')].map(r => [...r.cells].map(c => c.textContent))"
        )
        assert [row[0] for row in rows] == ["Alpha", "Alpha"]
        assert all(len(row[1]) == 36 for row in rows)
        # The lag chart over a time axis, drawn again at each poll.
        browser.wait_for("document.querySelectorAll('#lag-chart polyline').length === 1")
        ticks = browser.wait_for(
            "[...document.querySelectorAll('#lag-chart text.tick')].map(t => t.textContent)"
        )
        assert all(re.fullmatch(r"\d{1,2}:\d{2}:\d{2}( [AP]M)?", tick) for tick in ticks), ticks
        # Requests by route, the page's own polling left out.
        routes = browser.wait_for(
            "document.querySelectorAll('#requests tr').length"
            " && [...document.querySelectorAll('#requests tr')].map(r => r.cells[0].textContent)"
        )
        assert "/openapi/v1/_health" in routes
        assert not [route for route in routes if route.startswith("/ops")]
        assert not browser.errors(), json.dumps(browser.errors())

        OUTPUT.mkdir(exist_ok=True)
        screenshot = OUTPUT / "ops_page.png"
        screenshot.unlink(missing_ok=True)
        browser.wait_for("document.querySelectorAll('#lag-chart polyline').length === 1")
        browser.screenshot(screenshot)
        assert screenshot.stat().st_size > 10_000
    finally:
        browser.close()
