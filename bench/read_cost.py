"""What the read scripts cost inside Redis: µs per EVALSHA, route by route.

Loads `bench/api/load.py`'s data set (100 workspaces x 100 apps, the projector's own
writer) into a private Redis started for the run (`--start-redis single` or `cluster`),
then calls each route's read `--calls` times through `ReadModelReader`, as the API does,
and prints what `INFO commandstats` says Redis spent per call of each command (on a
cluster summed over the masters). The figure that matters for a change of layout is the
list's `evalsha` µs per call: Redis executes scripts one at a time, so it bounds what one
server serves. Print the load average beside it; a shared machine moves it by ±10 %.

    uv run python bench/read_cost.py --start-redis single
    uv run python bench/read_cost.py --start-redis cluster --calls 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.redis_servers import TOPOLOGIES, info, private_redis, reset_stats
from shared.auth.chain import token_digest
from shared.readmodel.connection import connect
from shared.readmodel.reads import ReadModelReader

HERE = Path(__file__).resolve().parent


def load(url: str) -> dict[str, Any]:
    import json

    loaded = subprocess.run(
        [sys.executable, str(HERE / "api" / "load.py"), "--redis-url", url],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(loaded.stdout)


def per_call(client: Any) -> dict[str, tuple[int, float]]:
    """(calls, µs per call) of each command since the last reset, over every server."""
    calls: dict[str, int] = {}
    usec: dict[str, float] = {}
    for server in info(client, "commandstats"):
        for name, fields in server.items():
            command = name.removeprefix("cmdstat_")
            calls[command] = calls.get(command, 0) + int(fields["calls"])
            usec[command] = usec.get(command, 0.0) + float(fields["usec"])
    return {name: (calls[name], usec[name] / calls[name]) for name in calls if calls[name]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start-redis", choices=TOPOLOGIES, default="single")
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    with private_redis(args.start_redis) as url:
        data = load(url)
        client = connect(url)
        reader = ReadModelReader(client)
        digest = token_digest(data["token"])
        now = int(time.time() * 1000)
        workspace = data["workspace_id"]
        routes: dict[str, Callable[[], object]] = {
            "GET /apps (page 1 of 20)": lambda: reader.app_page(
                digest, now, workspace_id=workspace, offset=0, limit=20
            ),
            "GET /apps (page 3 of 20)": lambda: reader.app_page(
                digest, now, workspace_id=workspace, offset=40, limit=20
            ),
            "GET /apps?name=a": lambda: reader.app_page(
                digest, now, workspace_id=workspace, offset=0, limit=20, name_needle="a"
            ),
            "GET /apps/{id}": lambda: reader.app(digest, now, data["app_id"], ("summary",)),
            "GET /apps/{id}/describe": lambda: reader.app(
                digest, now, data["app_id"], ("info", "params", "schema")
            ),
            "GET /account": lambda: reader.account(digest, now),
            "GET /workspaces/{id}/members": lambda: reader.members(digest, now, workspace, wanted=True),
            "GET /account/sessions": lambda: reader.session_page(digest, now, offset=0, limit=100),
        }
        print(
            f"Redis {args.start_redis}, {data['events']:,} events, {args.calls:,} calls a route, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print("| route | evalsha µs/call | other commands: µs/call ×calls per read |")
        print("|---|---:|---|")
        for name, read in routes.items():
            read()  # loads the script
            reset_stats(client)
            for _ in range(args.calls):
                read()
            stats = per_call(client)
            evalsha = stats.pop("evalsha", (0, 0.0))
            stats.pop("config|resetstat", None)
            others = ", ".join(
                f"{command} {micros:.2f} ×{calls / args.calls:.1f}"
                for command, (calls, micros) in stats.items()
            )
            print(f"| {name} | {evalsha[1]:.2f} | {others} |")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
