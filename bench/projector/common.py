"""What the projector benchmarks share: a claimed Redis database and percentiles."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import redis

CLAIM = "readmodel-test:claim:{}"  # the claim keys the test fixtures use too


@contextmanager
def claimed_database(base_url: str) -> Iterator[str]:
    """The URL of a Redis database no test run uses meanwhile; flushed and released afterwards."""
    admin = redis.Redis.from_url(base_url)
    for number in range(15, 0, -1):
        if admin.set(CLAIM.format(number), f"bench {os.getpid()}", nx=True, ex=3600):
            break
    else:
        raise SystemExit("every Redis database 1-15 is claimed")
    parts = urlsplit(base_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{number}", "", ""))
    try:
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
        yield url
    finally:
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
        admin.delete(CLAIM.format(number))
        admin.close()


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def stop_processes(processes: Iterable[subprocess.Popen[bytes]], *, grace: float = 30) -> None:
    """SIGTERM every process, then wait for each; one that outlives `grace` seconds is killed."""
    processes = list(processes)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
