"""Where a list request's time goes, layer by layer, in the API process and in Redis.

    uv run python bench/api/layers.py [--requests 5000] [--target list|describe|sessions]

Starts a private redis-server (bench/redis_servers.py), loads the benchmark's data with
load.py, and calls the WSGI app in this process (no HTTP server: granian's own share is the
hello-world row of run.py). It reports:

- the whole request: CPU µs in this process (`time.process_time`, best of five runs, so
  waiting for Redis is not counted) and wall µs;
- each layer on its own, timed over the same inputs with `time.perf_counter` (best of five):
  Falcon's request handling around the app's code (a route answering a constant), the
  telemetry middleware, parameter parsing, the auth pipeline over the read's facts, the
  Redis call from the client's side (packing, sending, reading and the hiredis parse, minus
  the server's own time), decoding the reply into records, the body with its ETag, and the
  access line;
- Redis: the read script's µs per call (`INFO commandstats`), the same script with its data
  commands removed (what the prelude costs), and the reply's size.

Figures are this machine's: 2 shared cores, so repeat a run and read the spread.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[2]

from run import NO_RATE_LIMITS  # noqa: E402

from bench.redis_servers import private_redis  # noqa: E402
from query_api.app import create_app  # noqa: E402
from query_api.bodies import page_body  # noqa: E402
from query_api.conditional import entity_tag  # noqa: E402
from query_api.operations.access import AccessLog  # noqa: E402
from query_api.queries import parse_apps  # noqa: E402
from query_api.validation import first_values  # noqa: E402
from shared.auth.chain import authenticate, authorize_workspace, require_account_token, token_digest  # noqa: E402
from shared.auth.scopes import APPS_READ  # noqa: E402
from shared.logs import configure_logging  # noqa: E402
from shared.readmodel.cluster_reads import NOT_SPENDING  # noqa: E402
from shared.readmodel.read_scripts import APPS, read_script  # noqa: E402
from shared.readmodel.reads import ReadModelReader  # noqa: E402
from shared.settings import Settings  # noqa: E402


def best_of(runs: int, count: int, step: Callable[[], Any]) -> float:
    """The best mean µs of `step` over `runs` runs of `count` calls."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(count):
            step()
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def cpu_of(runs: int, count: int, step: Callable[[], Any]) -> tuple[float, float]:
    """The best CPU µs (this process) and the wall µs of that run, per call."""
    best = (float("inf"), 0.0)
    for _ in range(runs):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            step()
        spent = (time.process_time() - cpu) / count * 1e6
        if spent < best[0]:
            best = (spent, (time.perf_counter() - wall) / count * 1e6)
    return best


def environ(path: str, query: str, token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_HOST": "127.0.0.1:5001",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    count = args.requests
    with private_redis("single") as url:
        loaded = __import__("subprocess").run(
            [sys.executable, str(ROOT / "bench" / "api" / "load.py"), "--redis-url", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(loaded.stdout)
        client = redis.Redis.from_url(url)
        # The access line goes where configure_logging sends it: here, a sink.
        configure_logging(stream=io.StringIO())
        logging.getLogger().setLevel(logging.INFO)
        app = create_app(Settings.from_env({"READMODEL_REDIS_URL": url, **NO_RATE_LIMITS}), redis=client)
        sink: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            sink.append(status)

        token, workspace = data["token"], data["workspace_id"]
        query = f"workspace_id={workspace}&limit=20"

        def whole() -> bytes:
            return b"".join(app(environ("/openapi/v1/apps", query, token), start_response))

        def health() -> bytes:
            return b"".join(app(environ("/openapi/v1/_health", "", token), start_response))

        whole()
        assert sink[-1].startswith("200"), sink[-1]
        rows: dict[str, float] = {}
        request_cpu, request_wall = cpu_of(5, count, whole)
        health_cpu, _ = cpu_of(5, count, health)

        # The layers on their own, over the same inputs.
        params = first_values({"workspace_id": workspace, "limit": "20"})
        digest = token_digest(token)
        reader = ReadModelReader(client)
        now_ms = int(time.time() * 1000)
        read = reader.app_page(digest, now_ms, workspace_id=workspace, offset=0, limit=20)
        rows["parameter parsing (parse_apps)"] = best_of(5, count, lambda: parse_apps(params, {}))

        def auth() -> None:
            ctx = authenticate(token, read.head.token, now_ms)
            require_account_token(ctx)
            authorize_workspace(ctx, read.workspace, APPS_READ)

        rows["auth pipeline over the read's facts"] = best_of(5, count, auth)
        sha = client.script_load(read_script(APPS))
        script_args = (digest, now_ms, *NOT_SPENDING, workspace, "", "", "", 0, 20, "", "1")
        client.config_resetstat()
        raw_cpu, _ = cpu_of(5, count, lambda: client.execute_command("EVALSHA", sha, 0, *script_args))
        stats = client.info("commandstats")["cmdstat_evalsha"]
        script_us = float(stats["usec_per_call"])
        reply = client.execute_command("EVALSHA", sha, 0, *script_args)
        reply_bytes = sum(len(item) for item in reply if isinstance(item, bytes))
        rows["Redis call, client side (redis-py pack, send, read, hiredis parse)"] = raw_cpu
        read_cpu, _ = cpu_of(
            5, count, lambda: reader.app_page(digest, now_ms, workspace_id=workspace, offset=0, limit=20)
        )
        # The reader sends on its own connection (no redis-py client around it) and decodes.
        rows["reader: its own send and receive, and decoding into records"] = read_cpu
        body = page_body(1, 20, read.total, read.rows)
        rows["body assembly (envelope splice)"] = best_of(
            5, count, lambda: page_body(1, 20, read.total, read.rows)
        )
        rows["ETag (SHA-1 of the body)"] = best_of(5, count, lambda: entity_tag(body, "s"))
        access = AccessLog()
        rows["access line"] = best_of(
            5, count, lambda: access.record("rid", "GET", "/openapi/v1/apps", 200, 123)
        )
        rows["Falcon and telemetry around a constant answer (/_health)"] = health_cpu

        prelude_only = read_script(APPS).split("-- GET /apps")[0] + "return head"
        prelude_sha = client.script_load(prelude_only)
        client.config_resetstat()
        best_of(1, count, lambda: client.execute_command("EVALSHA", prelude_sha, 0, *script_args))
        prelude_us = float(client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])

    print(f"list page 1 of {data['apps_in_list']} apps, {count} requests per run, best of five")
    print(
        f"| layer | µs |\n|---|---:|\n| whole request, API process CPU (no HTTP server) | {request_cpu:.1f} |"
    )
    print(f"| whole request, wall (incl. waiting for Redis) | {request_wall:.1f} |")
    for name, value in rows.items():
        print(f"| {name} | {value:.1f} |")
    print(f"| Redis: read script, µs per call (commandstats) | {script_us:.1f} |")
    print(f"| Redis: its prelude alone (live generation, watermark, token) | {prelude_us:.1f} |")
    print(f"| Redis: reply size | {reply_bytes} bytes |")


if __name__ == "__main__":
    main()
