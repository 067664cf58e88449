"""`readmodel` commands run as real processes, for tests that inject faults around them.

Each process writes its stdout and stderr to one file the test reads as it goes; the helpers
wait with deadlines (never a fixed sleep) and stop what is left at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.cli import READMODEL
from tests.support.limits import UNLIMITED

# The bound: every long-running command stops within 2 s of SIGTERM or SIGINT.
STOP_SECONDS = 2.0


def command_env(**settings: str) -> dict[str, str]:
    """The test's environment without its READMODEL_* settings and with Dify's rate limits off,
    plus `settings`; no /metrics port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("READMODEL_")}
    env["READMODEL_METRICS_PORT"] = "0"
    return env | UNLIMITED | settings


class Command:
    """One running `readmodel` command and its combined output."""

    def __init__(self, args: list[str], env: Mapping[str, str], cwd: Path, name: str) -> None:
        self.args = args
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("ab")
        # A session of its own: the cleanup kills its workers too (granian's), never the test.
        self.process = subprocess.Popen(
            [READMODEL, *args],
            cwd=cwd,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[str]:
        return self.output().splitlines()

    def logged(self, message: str) -> list[dict[str, Any]]:
        """The JSON log lines whose message contains `message`."""
        found = []
        for line in self.lines():
            if line.startswith("{"):
                record = json.loads(line)
                if message in record.get("message", ""):
                    found.append(record)
        return found

    def value(self, label: str, timeout: float = 60.0) -> str:
        """The last word of the first output line starting with `label` (waited for)."""
        self.wait_for(lambda: any(line.startswith(label) for line in self.lines()), repr(label), timeout)
        return next(line.split()[-1] for line in self.lines() if line.startswith(label))

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
        """Poll `condition` until it holds; fail with the output if the process ends first."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.alive(), (
                f"{self.args} ended (code {self.process.returncode}) before {what}:\n{self.output()}"
            )
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.output()}"
            time.sleep(0.05)

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        self.wait_for(lambda: text in self.output(), repr(text), timeout)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum`; returns the exit code and how long the process took to end."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"{self.args} ignored signal {signum} for 30 s:\n{self.output()}") from None
        return code, time.monotonic() - sent

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.args} did not end:\n{self.output()}") from None

    def kill(self) -> None:
        """Kill whatever is left of the command, its worker processes included."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(10)
        self._log.close()

    def assert_no_traceback(self) -> None:
        text = self.output()
        assert "Traceback" not in text, text
        assert "stack backtrace" not in text.lower(), text


def assert_stops_in_time(command: Command, signum: int = signal.SIGTERM) -> int:
    """Signal `command` and check it ends within STOP_SECONDS, without a traceback; its code."""
    code, seconds = command.stop(signum)
    assert seconds < STOP_SECONDS, f"{command.args} took {seconds:.2f}s to stop:\n{command.output()}"
    command.assert_no_traceback()
    return code


@contextmanager
def started(args: list[str], env: Mapping[str, str], cwd: Path, name: str | None = None) -> Iterator[Command]:
    """Run a command for the block; whatever is still running at its end is killed."""
    command = Command(args, env, cwd, name or args[0])
    try:
        yield command
    finally:
        command.kill()


def run_command(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run a short command to its end: its exit code and combined output."""
    done = subprocess.run(
        [READMODEL, *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout


def http_get(url: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-case names) and JSON body; status 0 when nothing answers."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, _headers(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _headers(error.headers), json.loads(error.read())
    except OSError:
        return 0, {}, None


def _headers(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
