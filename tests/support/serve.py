"""`readmodel serve` started as users start it, and plain HTTP calls to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fixtures.redis_server import free_port
from tests.support.cli import READMODEL
from tests.support.limits import UNLIMITED


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET `url`: the status and the decoded JSON body (error statuses included)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    base: str  # http://127.0.0.1:<port>/openapi/v1
    log: Path


@contextmanager
def serving(redis_url: str, workers: int, tmp_path: Path) -> Iterator[Served]:
    """`readmodel serve --workers N` on a free loopback port, answering `/_health` when yielded.

    Stopped with SIGINT afterwards, as Ctrl-C in a terminal reaches the server; raises
    AssertionError when it does not stop within 30 s (it is killed then).
    """
    port = free_port()
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [READMODEL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **UNLIMITED, "READMODEL_REDIS_URL": redis_url},
        start_new_session=True,
        stdout=log,  # granian's own lines
        stderr=subprocess.STDOUT,
    )
    served = Served(process, f"http://127.0.0.1:{port}/openapi/v1", log_path)
    stopped = True
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if get(f"{served.base}/_health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "readmodel serve did not come up"
            time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                stopped = False
        log.close()
    assert stopped, "readmodel serve did not stop on SIGINT"


def child_processes(pid: int) -> set[int]:
    """The processes whose parent is `pid` (zombies included), from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # The command name in parentheses may hold spaces; the parent's pid is the 2nd field after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.add(int(entry.name))
    return children
