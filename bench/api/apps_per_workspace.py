"""Redis memory per app and list throughput as one workspace grows; see bench/README.md.

For each size in `--sizes` (apps created in one workspace), load.py projects
`demo_history(seed, workspaces=1, apps=N)` into a claimed Redis database (flushed first),
then:

- memory: `MEMORY USAGE <key> SAMPLES 0` (every element counted) of every key in the
  database, grouped by what it holds (the apps' hashes: their states and documents; their
  locators and the workspace's rows and authors; the workspace's indexes), through
  `shared.readmodel.keys`; per app created and per visible app;
- throughput: `readmodel serve --workers 1` pinned to one core, wrk pinned to the other, for
  `--duration` seconds at 64 connections on page 1 of 20, the last page, and page 1 with a
  `name` filter (a substring scan of the workspace's visible names inside the read script);
  before each, the median of 31 serial calls of the read script alone (no HTTP), which is
  what the request costs Redis plus one round trip.

Every throughput row carries the 1-minute load average (as `uptime` prints it) from just
before the run, because the machine is shared.

`--start-redis single` or `cluster` loads into a private Redis started for the run (one
server, or three masters) instead of a claimed database of the shared one; on a cluster the
memory is summed over the masters. "used_memory" is `INFO memory`'s figure summed
over the servers, less what they used before the first load. `--no-throughput` measures
memory only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from run import Figures, bench_redis, load_data, serve_command, server, wrk

from bench.redis_servers import TOPOLOGIES, all_keys, memory_usage, used_memory
from projector.generations import live_generation
from projector.seed.vocabulary import TAGS
from shared.auth.chain import token_digest
from shared.events.payloads import APP_MODES
from shared.readmodel import keys
from shared.readmodel.connection import connect
from shared.readmodel.reads import ReadModelReader


@dataclass(frozen=True)
class Memory:
    apps: int  # apps created in the workspace (each has a hash: its state, deleted ones too)
    visible: int  # apps the list shows
    # bytes of every app's hash: its stream state and, while visible, its documents
    app_hashes: int
    # bytes of the apps' locators and the workspace's rows and authors
    app_documents: int
    indexes: int  # bytes of the workspace's list, mode, tag and name indexes
    index_entries: int
    everything: int  # bytes of every key in the database
    used: int  # used_memory over the servers, less their baseline before any load

    def per_visible_app(self, part: int) -> float:
        return part / max(1, self.visible)

    def per_app(self, part: int) -> float:
        return part / max(1, self.apps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the Redis server (no db)")
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--sizes", default="10,100,1000,10000", help="apps created in the one workspace")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpus", default="1")
    parser.add_argument("--client-cpus", default="0")
    parser.add_argument(
        "--start-redis",
        choices=TOPOLOGIES,
        help="load into a private Redis started for the run: one server or a 3-master cluster",
    )
    parser.add_argument("--no-throughput", action="store_true", help="measure memory only")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    memory_rows: list[tuple[int, Memory]] = []
    rate_rows: list[tuple[int, str, float, Figures, float]] = []
    with bench_redis(args.redis, args.start_redis) as url:
        client: Any = connect(url)
        baseline = used_memory(client)
        client.close()
        for size in sizes:
            data = load_data(url, "--workspaces", "1", "--apps", str(size))
            client = connect(url)
            memory = measure_memory(client, data["workspace_id"], baseline)
            client.close()
            memory_rows.append((size, memory))
            print(f"{size} apps: {data['events']} events, {memory.visible} visible", file=sys.stderr)
            if args.no_throughput:
                continue
            with server(
                serve_command(args.port, 1), {"READMODEL_REDIS_URL": url}, args.port, args.server_cpus
            ):
                for target in targets(args.port, data, memory.visible):
                    client = connect(url)
                    alone = read_ms(client, data, target)
                    client.close()
                    wrk(target.url, 8, 1, data["token"], core=args.client_cpus)  # warm up
                    load = os.getloadavg()[0]
                    figures = wrk(
                        target.url, args.connections, args.duration, data["token"], core=args.client_cpus
                    )
                    rate_rows.append((size, target.name, alone, figures, load))

    print(f"Redis: {args.start_redis or 'shared'}")
    print(
        "| apps created | visible | apps' hashes B per app | rows, locators, authors B per app "
        "| index B per entry | whole database | whole database per app | per visible app "
        "| used_memory | used_memory per app | per visible app |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, m in memory_rows:
        print(
            f"| {size:,} | {m.visible:,} | {m.per_app(m.app_hashes):,.0f} "
            f"| {m.per_app(m.app_documents):,.0f} "
            f"| {m.indexes / max(1, m.index_entries):,.0f} "
            f"| {m.everything / 1024:,.0f} KiB | {m.per_app(m.everything):,.0f} "
            f"| {m.per_visible_app(m.everything):,.0f} "
            f"| {m.used / 1024:,.0f} KiB | {m.per_app(m.used):,.0f} | {m.per_visible_app(m.used):,.0f} |"
        )
    if args.no_throughput:
        return
    print()
    rate = f"req/s at {args.connections} connections"
    print(f"| apps created | request | one read alone, ms | {rate} | p50 ms | p99 ms | load | errors |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for size, name, alone, f, load in rate_rows:
        print(
            f"| {size:,} | {name} | {alone:.2f} | {f.requests_per_second:,.0f} | {f.p50_ms:.2f} "
            f"| {f.p99_ms:.2f} | {load:.2f} | {f.errors} |"
        )
    if any(f.errors for _, _, _, f, _ in rate_rows):
        sys.exit("some requests failed (see the errors column)")


def measure_memory(client: Any, workspace_id: str, baseline: int) -> Memory:
    generation = live_generation(client)
    assert generation is not None, "load.py leaves a live generation"

    def full(suffix: str) -> str:
        return keys.full_key(generation, suffix)

    apps = full(keys.stream_state(workspace_id, "app:"))
    app_keys = [key for key in all_keys(client) if key.startswith(apps.encode())]
    app_ids = [key.decode()[len(apps) :] for key in app_keys]
    index_keys = [
        full(keys.app_index(workspace_id)),
        *(full(keys.mode_index(workspace_id, mode)) for mode in APP_MODES),
        *(full(keys.tag_index(workspace_id, tag)) for tag in TAGS),
    ]
    names_key = full(keys.app_names(workspace_id))
    entries = sum(client.zcard(key) for key in index_keys) + client.hlen(names_key)
    documents = [full(keys.app_rows(workspace_id)), full(keys.app_authors(workspace_id))]
    documents += [full(keys.app_workspace(app_id)) for app_id in app_ids]
    return Memory(
        apps=len(app_ids),
        visible=client.zcard(full(keys.app_index(workspace_id))),
        app_hashes=_usage(client, app_keys),
        app_documents=_usage(client, documents),
        indexes=_usage(client, [*index_keys, names_key]),
        index_entries=entries,
        everything=_usage(client, all_keys(client)),
        used=used_memory(client) - baseline,
    )


def _usage(client: Any, names: Iterable[Any]) -> int:
    """The summed MEMORY USAGE of the keys that exist, every element counted (SAMPLES 0)."""
    return memory_usage(client, names)


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    offset: int  # what the read script is given for the page
    needle: str  # casefolded name filter, '' for none


def targets(port: int, data: dict[str, Any], visible: int) -> list[Target]:
    """Page 1, the last page (if not 1) and page 1 filtered by the first word of page 1's first name."""
    base = f"http://127.0.0.1:{port}/openapi/v1/apps?workspace_id={data['workspace_id']}&limit=20"
    request = urllib.request.Request(base, headers={"Authorization": f"Bearer {data['token']}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        page = json.loads(response.read())
    assert page["total"] == visible, (page["total"], visible)
    needle = page["data"][0]["name"].split()[0].casefold()
    chosen = [Target("page 1", base, 0, "")]
    last = -(-visible // 20)
    if last > 1:
        chosen.append(Target(f"page {last} (last)", f"{base}&page={last}", (last - 1) * 20, ""))
    chosen.append(Target(f"page 1, name={needle}", f"{base}&name={quote(needle)}", 0, needle))
    return chosen


def read_ms(client: Any, data: dict[str, Any], target: Target, repeats: int = 31) -> float:
    """Median time of one list read (the read script's round trip, no HTTP), serially."""
    reader = ReadModelReader(client)
    digest = token_digest(data["token"])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        reader.app_page(
            digest,
            int(time.time() * 1000),
            workspace_id=data["workspace_id"],
            name_needle=target.needle,
            offset=target.offset,
            limit=20,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    main()
