"""Events per second the writer applies to a real Redis in batches (no broker, no store).

A seeded history is folded through `RedisProjector.apply` in batches, as the consumer
hands them over, into a claimed database of the local Redis. Streams never have gaps here,
so the stream reader is an in-memory index. `--profile` prints where the time goes.

    uv run python bench/projector/apply.py                       # ~200k events
    uv run python bench/projector/apply.py --workspaces 200 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import redis
from common import claimed_database

from projector.generations import ensure_live_generation
from projector.seed import generate_history
from projector.writer import RedisProjector
from shared.events import StoredEvent


class StreamIndex:
    """The store's stream reads over a list held in memory."""

    def __init__(self, events: list[StoredEvent]) -> None:
        self._streams: dict[str, list[StoredEvent]] = defaultdict(list)
        for stored in events:
            self._streams[stored.event.stream].append(stored)

    def read_stream(
        self, stream: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        top = to_version if to_version is not None else 1 << 62
        return [s for s in self._streams.get(stream, []) if from_version <= s.event.version <= top]


def main() -> int:
    parser = argparse.ArgumentParser(description="Events per second the writer applies to a real Redis.")
    parser.add_argument("--workspaces", type=int, default=1600)
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top")
    args = parser.parse_args()

    now = datetime.now(UTC)
    started = time.perf_counter()
    events = [
        StoredEvent(position=i, event=event, recorded_at=now)
        for i, event in enumerate(generate_history(args.workspaces, args.apps, args.seed), start=1)
    ]
    print(f"generated {len(events):,} events in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    index = StreamIndex(events)

    with claimed_database(args.redis) as url:
        client: Any = redis.Redis.from_url(url)
        ensure_live_generation(client)
        projector = RedisProjector(client, index)
        profiler = cProfile.Profile() if args.profile else None
        applied = poison = 0
        client.config_resetstat()
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
        stats = client.info("commandstats")
        redis_seconds = {name: fields["usec"] / 1e6 for name, fields in stats.items()}
        keys = client.dbsize()
        memory = client.info("memory")["used_memory_human"]
        client.close()

    print(
        f"applied {applied:,} events in {seconds:.1f}s: {applied / seconds:,.0f} events/s "
        f"(batches of {args.batch}; {poison} poison; {keys:,} keys, Redis memory {memory})"
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
