"""Events per second the writer applies to a real Redis in batches (no broker, no store).

A seeded history is folded through `RedisProjector.apply` in batches, as the consumer
hands them over, into a claimed database of the local Redis, or with `--start-redis single`
or `cluster` into a private Redis started for the run (one server, or three masters: the
writer then applies each batch slot by slot). The store's reads (gaps never happen here; an
app's author taken up, a membership read again) come from an in-memory index.
`--profile` prints where the time goes.

    uv run python bench/projector/apply.py                       # ~200k events
    uv run python bench/projector/apply.py --workspaces 200 --profile
    uv run python bench/projector/apply.py --workspaces 400 --start-redis cluster
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from common import claimed_database

from bench.redis_servers import (
    TOPOLOGIES,
    command_seconds,
    key_count,
    private_redis,
    reset_stats,
    used_memory,
)
from projector.generations import ensure_live_generation
from projector.seed import generate_history
from projector.store.memory import EventIndex
from projector.writer import RedisProjector
from shared.events import StoredEvent
from shared.readmodel.connection import connect


@contextmanager
def bench_redis(base_url: str, start: str | None) -> Iterator[str]:
    """A private Redis of topology `start` if given, else a claimed database of `base_url`."""
    if start is None:
        with claimed_database(base_url) as url:
            yield url
    else:
        with private_redis(start) as url:
            yield url


def main() -> int:
    parser = argparse.ArgumentParser(description="Events per second the writer applies to a real Redis.")
    parser.add_argument("--workspaces", type=int, default=1600)
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top")
    parser.add_argument(
        "--start-redis",
        choices=TOPOLOGIES,
        help="apply into a private Redis started for the run: one server or a 3-master cluster",
    )
    args = parser.parse_args()

    now = datetime.now(UTC)
    started = time.perf_counter()
    events = [
        StoredEvent(position=i, event=event, recorded_at=now)
        for i, event in enumerate(generate_history(args.workspaces, args.apps, args.seed), start=1)
    ]
    print(f"generated {len(events):,} events in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    index = EventIndex(events)  # the store's reads, over the events in memory
    # The input stays in memory for the run: keep the collector from walking it again and
    # again, which a projector (holding one batch) never does.
    gc.freeze()

    with bench_redis(args.redis, args.start_redis) as url:
        client: Any = connect(url)
        baseline = used_memory(client)
        ensure_live_generation(client)
        projector = RedisProjector(client, index)
        profiler = cProfile.Profile() if args.profile else None
        applied = poison = 0
        reset_stats(client)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for start in range(0, len(events), args.batch):
            result = projector.apply(events[start : start + args.batch])
            applied += len(result.applied)
            poison += len(result.poison)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        # Time Redis itself spent executing commands (the Lua apply above all), per command.
        redis_seconds = command_seconds(client)
        keys = key_count(client)
        memory = (used_memory(client) - baseline) / 2**20  # over every master of a cluster
        client.close()

    print(
        f"applied {applied:,} events in {seconds:.1f}s: {applied / seconds:,.0f} events/s "
        f"(Redis {args.start_redis or 'shared'}, batches of {args.batch}; {poison} poison; {keys:,} keys, "
        f"Redis memory +{memory:,.1f} MiB; load average {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after)"
    )
    busiest = sorted(redis_seconds.items(), key=lambda item: -item[1])[:4]
    print(
        f"Redis busy {sum(redis_seconds.values()):.1f}s of the {seconds:.1f}s: "
        + ", ".join(f"{name.removeprefix('cmdstat_')} {spent:.1f}s" for name, spent in busiest)
    )
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(20)
    return 0 if poison == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
