"""List throughput with 1 and 2 granian workers (`readmodel serve --workers N`); see bench/README.md.

Loads run.py's data set into a claimed Redis database, then for each worker count in
`--workers` (alternating, `--rounds` times, so drift on a shared machine hits both alike)
starts `readmodel serve --workers N`, warms up, and runs wrk on the list (page 1 of 20) at
64 connections; then the Falcon hello-world with the same worker count, as a control for
what the machine itself gave at that moment. Server and wrk share the same CPUs
(`--cpus`, both cores by default): a second worker is only worth something if it gets a
core, and on a 2-core machine wrk, Redis and the second worker compete for it. Every row
carries the 1-minute load average (as `uptime` prints it) from just before the run.
"""

from __future__ import annotations

import argparse
import os
import sys

from run import Figures, claimed_database, hello_command, load_data, serve_command, server, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the Redis server (no db)")
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--workers", default="1,2", help="worker counts, in the order run each round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--cpus", default="0,1", help="taskset CPU list of both server and wrk")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the hello-world control")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    rows: list[tuple[str, int, Figures, float]] = []
    with claimed_database(args.redis) as url:
        data = load_data(url)
        print(f"loaded {data['events']} events; list of {data['apps_in_list']} apps", file=sys.stderr)
        target = f"http://127.0.0.1:{args.port}/openapi/v1/apps?workspace_id={data['workspace_id']}&limit=20"
        hello = f"http://127.0.0.1:{args.port + 1}/hello"
        for _ in range(args.rounds):
            for workers in counts:
                with server(
                    serve_command(args.port, workers), {"READMODEL_REDIS_URL": url}, args.port, args.cpus
                ):
                    rows.append(("GET /apps (page 1)", workers, *_measure(target, data["token"], args)))
                if not args.no_ceiling:
                    with server(hello_command(args.port + 1, workers), {}, args.port + 1, args.cpus):
                        rows.append(("Falcon hello (control)", workers, *_measure(hello, None, args)))

    print(f"| target | workers | req/s at {args.connections} connections | p50 ms | p99 ms | load | errors |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, workers, f, load in rows:
        print(
            f"| {name} | {workers} | {f.requests_per_second:,.0f} | {f.p50_ms:.2f} | {f.p99_ms:.2f} "
            f"| {load:.2f} | {f.errors} |"
        )
    if any(f.errors for _, _, f, _ in rows):
        sys.exit("some requests failed (see the errors column)")


def _measure(url: str, token: str | None, args: argparse.Namespace) -> tuple[Figures, float]:
    wrk(url, 8, 2, token, core=args.cpus)  # warm up every worker's connections and caches
    load = os.getloadavg()[0]
    return wrk(url, args.connections, args.duration, token, core=args.cpus), load


if __name__ == "__main__":
    main()
