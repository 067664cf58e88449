"""Throughput of each stage on a backlog: relay (store → RabbitMQ) and consumer (RabbitMQ → Redis).

A seeded history is appended to a SQLite store in a temporary folder, relayed to RabbitMQ in
full (publisher confirms per batch), then consumed into a claimed Redis database by
`ProjectorConsumer`, each stage timed on its own, in this one process.

    uv run python bench/projector/drain.py                    # ~50k events
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from common import claimed_database

from projector.broker import topology as topo
from projector.broker.connection import connect
from projector.broker.consumer import ProjectorConsumer
from projector.broker.publisher import Publisher
from projector.dead_letters import DeadLetterStore
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.relay import Relay
from projector.seed import generate_history
from projector.store import EventStore, create_engine_for
from projector.writer import RedisProjector


def main() -> int:
    parser = argparse.ArgumentParser(description="Relay and consumer throughput on a backlog.")
    parser.add_argument("--workspaces", type=int, default=400)
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", action="store_true", help="profile both stages (cProfile)")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None

    topology = topo.Topology.with_suffix(f"bench-{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory() as folder, claimed_database(args.redis) as redis_url:
        engine = create_engine_for(f"sqlite:///{Path(folder) / 'events.db'}")
        migrate(engine)
        store = EventStore(engine)
        history = list(generate_history(args.workspaces, args.apps, seed=1))
        for start in range(0, len(history), 5000):
            store.append(history[start : start + 5000])
        total = store.count()
        try:
            publisher = Publisher(connect(args.broker), topology, store)
            relay = Relay(store, publisher, batch_size=args.batch)
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            while relay.run_once():
                pass
            if profiler is not None:
                profiler.disable()
                _report(profiler, "relay")
                profiler = cProfile.Profile()
            relayed = time.perf_counter() - started
            publisher.close()
            print(f"relay: {total:,} events in {relayed:.1f}s, {total / relayed:,.0f} events/s")

            client: Any = redis.Redis.from_url(redis_url)
            ensure_live_generation(client)
            letters = DeadLetterStore(engine)
            consumer = ProjectorConsumer(
                connect(args.broker),
                RedisProjector(client, store),
                letters,
                topology=topology,
                prefetch_count=args.batch,
                batch_size=args.batch,
            )
            run = consumer.run if profiler is None else _profiled(profiler, consumer.run)
            thread = threading.Thread(target=run, daemon=True)
            started = time.perf_counter()
            thread.start()
            while consumer.totals.messages < total and thread.is_alive():
                time.sleep(0.01)
            consumed = time.perf_counter() - started
            consumer.stop()
            thread.join(30)
            client.close()
            if profiler is not None:
                _report(profiler, "consumer")
            print(
                f"consumer: {consumer.totals.messages:,} events in {consumed:.1f}s, "
                f"{consumer.totals.messages / consumed:,.0f} events/s ({consumer.totals.batches} batches)"
            )
        finally:
            connection = connect(args.broker)
            topo.delete(connection, topology)
            connection.release()
            engine.dispose()
    return 0


def _profiled(profiler: cProfile.Profile, target: Any) -> Any:
    def run() -> None:
        profiler.enable()
        try:
            target()
        finally:
            profiler.disable()

    return run


def _report(profiler: cProfile.Profile, stage: str) -> None:
    print(f"--- {stage} ---", file=sys.stderr)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    sys.exit(main())
