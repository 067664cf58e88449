"""Load-test the query API with wrk on this machine's Redis; see bench/README.md.

Claims a free Redis database (the same claim keys the test fixtures use), loads the fixed
data set with load.py, starts `readmodel serve --workers 1` pinned to one core and runs wrk
pinned to the other, against each target at 64 connections and at 1. Then the same for a
Falcon hello-world on the same server, as the ceiling. Prints a Markdown table.
`--workers`, `--server-cpus` and `--client-cpus` change the server's worker count and where
server and wrk run (workers.py compares worker counts with them). `--start-redis single` or
`cluster` serves the data from a private Redis started for the run (one server, or three
masters) instead of the shared one, `--targets` picks the targets, and every row carries
the 1-minute load average from just before its run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench.redis_servers import TOPOLOGIES, private_redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLAIM = "readmodel-test:claim:{}"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
TARGETS = ("list", "page3", "describe", "sessions", "hello")  # in the order they run


@dataclass(frozen=True)
class Figures:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: str


@contextmanager
def claimed_database(base_url: str) -> Iterator[str]:
    """A database number no test run uses meanwhile; flushed and released afterwards."""
    admin = redis.Redis.from_url(base_url, db=0)
    for number in range(15, 0, -1):
        if admin.set(CLAIM.format(number), f"bench {os.getpid()}", nx=True, ex=3600):
            break
    else:
        raise SystemExit("every Redis database 1-15 is claimed")
    try:
        yield f"{base_url.rstrip('/')}/{number}"
    finally:
        redis.Redis.from_url(base_url, db=number).flushdb()
        admin.delete(CLAIM.format(number))


@contextmanager
def bench_redis(base_url: str, start: str | None) -> Iterator[str]:
    """A private Redis of topology `start` if given, else a claimed database of `base_url`."""
    if start is None:
        with claimed_database(base_url) as url:
            yield url
    else:
        with private_redis(start) as url:
            yield url


@contextmanager
def server(command: list[str], env: dict[str, str], port: int, core: str) -> Iterator[None]:
    process = subprocess.Popen(
        ["taskset", "-c", core, *command],
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield
    finally:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (404 at /): up
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not come up within 30 s")


def wrk(url: str, connections: int, duration: int, token: str | None, core: str) -> Figures:
    command = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = latency(output, "50%")
    p99 = latency(output, "99%")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", output)
    return Figures(rate, p50, p99, errors.group(0) if errors else "")


def latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    assert match, output
    return float(match.group(1)) * UNITS[match.group(2)]


def serve_command(port: int, workers: int) -> list[str]:
    """`readmodel serve` on loopback with `workers` granian workers."""
    return [
        "uv",
        "run",
        "--no-sync",
        "readmodel",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def hello_command(port: int, workers: int) -> list[str]:
    """The Falcon hello-world under the same server, for the ceiling."""
    return [
        "uv",
        "run",
        "--no-sync",
        "granian",
        "--interface",
        "wsgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-log",
        "--working-dir",
        str(HERE),
        "hello:create",
    ]


def load_data(redis_url: str, *extra: str) -> dict[str, Any]:
    """Run load.py into `redis_url` (flushed first) and return what it printed."""
    loaded = subprocess.run(
        [sys.executable, str(HERE / "load.py"), "--redis-url", redis_url, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(loaded.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the Redis server (no db)")
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", default="64,1")
    parser.add_argument("--workers", type=int, default=1, help="granian workers of both servers")
    parser.add_argument("--server-cpus", default="1", help="taskset CPU list of the server")
    parser.add_argument("--client-cpus", default="0", help="taskset CPU list of wrk")
    parser.add_argument(
        "--start-redis",
        choices=TOPOLOGIES,
        help="serve from a private Redis started for the run: one server or a 3-master cluster",
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, of: {', '.join(TARGETS)}"
    )
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    chosen = args.targets.split(",")
    if unknown := set(chosen) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")

    rows: list[tuple[str, int, Figures, float]] = []
    with bench_redis(args.redis, args.start_redis) as url:
        data = load_data(url)
        print(f"loaded {data['events']} events; list of {data['apps_in_list']} apps", file=sys.stderr)
        base = f"http://127.0.0.1:{args.port}/openapi/v1"
        targets = {
            "list": ("GET /apps (page 1)", f"{base}/apps?workspace_id={data['workspace_id']}&limit=20"),
            "page3": (
                "GET /apps (page 3)",
                f"{base}/apps?workspace_id={data['workspace_id']}&limit=20&page=3",
            ),
            "describe": ("GET /apps/{id}/describe", f"{base}/apps/{data['app_id']}/describe"),
            "sessions": ("GET /account/sessions", f"{base}/account/sessions"),
        }
        serve = serve_command(args.port, args.workers)
        with server(serve, {"READMODEL_REDIS_URL": url}, args.port, core=args.server_cpus):
            for key in (key for key in TARGETS if key in chosen and key in targets):
                name, target = targets[key]
                wrk(target, 8, 2, data["token"], core=args.client_cpus)  # warm up
                for count in connections:
                    load = os.getloadavg()[0]
                    figures = wrk(target, count, args.duration, data["token"], core=args.client_cpus)
                    rows.append((name, count, figures, load))
    if "hello" in chosen:
        hello = hello_command(args.port + 1, args.workers)
        with server(hello, {}, args.port + 1, core=args.server_cpus):
            target = f"http://127.0.0.1:{args.port + 1}/hello"
            wrk(target, 8, 2, None, core=args.client_cpus)
            for count in connections:
                load = os.getloadavg()[0]
                figures = wrk(target, count, args.duration, None, core=args.client_cpus)
                rows.append(("Falcon hello (ceiling)", count, figures, load))

    print(f"Redis: {args.start_redis or 'shared'}")
    print("| target | connections | req/s | p50 ms | p99 ms | load | errors |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, count, f, load in rows:
        rate = f"{f.requests_per_second:,.0f}"
        print(f"| {name} | {count} | {rate} | {f.p50_ms:.3f} | {f.p99_ms:.2f} | {load:.2f} | {f.errors} |")


if __name__ == "__main__":
    main()
