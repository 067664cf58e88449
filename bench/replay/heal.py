"""Self-healing benchmark: how long after Redis loses the read model the API serves again.

Builds the read model of a seeded store (`bench/replay/run.sh` seeds it) into a private Redis,
flushes that Redis (the loss), then times the projector's self-healer (`wiring.self_healer`,
as `readmodel project` builds it) from the flush to the flip: the API serves again as soon
as the live pointer names the new generation.

    uv run python bench/replay/heal.py readmodel_bench_replay_1000x330 [--workers N]
"""

from __future__ import annotations

import argparse
import threading
import time

import orjson

from bench.redis_servers import private_redis
from projector import wiring
from projector.cli.wiring import open_store
from projector.generations import live_generation
from shared.readmodel.connection import connect
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description="time self-healing after Redis loses the read model")
    parser.add_argument("database", help="a seeded PostgreSQL database on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=None, help="rebuild workers (default: one per core)")
    args = parser.parse_args()
    with private_redis("single") as redis_url:
        database_url = f"postgresql://postgres@127.0.0.1:5432/{args.database}"
        settings = Settings(database_url=database_url, redis_url=redis_url)
        store, redis = open_store(settings), connect(redis_url)
        workers = wiring.rebuild_workers() if args.workers is None else args.workers
        built = wiring.rebuild(store, redis, settings=settings, workers=workers).run()
        # What a projector that had applied everything would have noted as acknowledged.
        store.advance_cursor("projector", built.cursor)
        healer = wiring.self_healer(store, redis, threading.Event(), settings=settings)
        redis.flushall()
        lost = time.monotonic()
        healed = healer.check_and_heal()
        serving = time.monotonic() - lost
        assert healed is not None
        assert live_generation(redis) == healed.generation
        print(
            orjson.dumps(
                {
                    "events": healed.events,
                    "serving_again_seconds": round(serving, 1),
                    "rebuild": healed.to_dict(),
                    "workers": workers,
                }
            ).decode()
        )


if __name__ == "__main__":
    main()
