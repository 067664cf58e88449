"""`readmodel serve` outlives one of its workers: a worker killed with -9 is replaced."""

from __future__ import annotations

import os
import signal
import threading
import time
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_api_real_redis import api_real_redis, api_redis_db, redis_url_for
from tests.support.serve import child_processes, get, serving
from tests.unit.api_events import Api, bearer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["api_real_redis", "api_redis_db"]  # fixtures, shared with the suites on real Redis

WORKERS = 2


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Client(threading.Thread):
    """Lists the workspace's apps one request after another until stopped, keeping every outcome."""

    def __init__(self, url: str, headers: dict[str, str], expected: list[str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.expected = url, headers, expected
        self.answered = 0
        self.wrong: list[tuple[int, Any]] = []  # an answer that is not the list: never allowed
        self.dropped: list[tuple[float, BaseException]] = []  # a connection that died under it, when
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = get(self.url, self.headers)
            except (OSError, HTTPException) as error:  # reset, refused, closed without an answer
                self.dropped.append((time.monotonic(), error))
                continue
            if status == 200 and [row["id"] for row in body["data"]] == self.expected:
                self.answered += 1
            else:
                self.wrong.append((status, body))


def test_a_worker_killed_with_sigkill_is_replaced_while_the_api_keeps_answering(
    api_real_redis: Any, api_redis_db: int, tmp_path: Path
) -> None:
    api = Api(api_real_redis)
    ws = api.workspace("Alpha")
    owner = api.account("Ada")
    api.join(ws, owner, "owner")
    token = api.login(owner, expires_at=None)  # the server judges expiry by the real clock
    app = api.app(ws, owner, name="Planner")
    with serving(redis_url_for(api_redis_db), WORKERS, tmp_path) as served:
        master = served.process.pid
        _wait_for(lambda: len(child_processes(master)) == WORKERS, 30, f"{WORKERS} workers")
        workers = child_processes(master)
        url = f"{served.base}/apps?workspace_id={ws}"
        for _ in range(10):  # before
            status, body = get(url, bearer(token))
            assert (status, [row["id"] for row in body["data"]]) == (200, [app])

        client = Client(url, bearer(token), [app])
        client.start()
        try:
            _wait_for(lambda: client.answered >= 5, 30, "answers before the kill")
            victim = min(workers)
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            _wait_for(
                lambda: (
                    served.process.poll() is not None
                    or (len(children := child_processes(master)) == WORKERS and victim not in children)
                ),
                60,
                "the killed worker's replacement",
            )
            assert served.process.poll() is None, served.log.read_text()
            replaced_at = time.monotonic()
            answered = client.answered
            _wait_for(lambda: client.answered >= answered + 20, 30, "answers after the replacement")
        finally:
            client.stop.set()
            client.join(30)

        assert client.wrong == []
        # Only what the killed worker held may be lost with it: the request it was handling
        # and the connections already queued on its socket, all dropped as it died; none
        # before the kill, none once its replacement serves.
        assert all(killed <= at <= replaced_at for at, _ in client.dropped), client.dropped
        assert len(client.dropped) <= 5, client.dropped
        for _ in range(10):  # after, on fresh connections that either worker may take
            status, body = get(url, bearer(token))
            assert (status, [row["id"] for row in body["data"]]) == (200, [app])
        replaced = child_processes(master)
        assert len(replaced) == WORKERS
        assert workers - {victim} <= replaced  # the other worker was left alone
