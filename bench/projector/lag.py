"""End-to-end lag, append → Redis, at a steady rate through PostgreSQL, RabbitMQ and Redis.

Starts `readmodel relay` and `readmodel project` as their own processes (as deployed), on a
database created for the run, a claimed Redis database and exchange/queue names of their
own. A producer appends small batches at `--rate` events/s; a poller reads the generation's
watermark every millisecond. An event's lag is the time from its append's commit to the
first poll that sees the watermark at or past its position (one partition, so positions
apply in order). Everything it created is removed at the end.

    uv run python bench/projector/lag.py                  # 1,000 events/s for 30 s
    uv run python bench/projector/lag.py --rate 2000 --seconds 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from common import claimed_database, percentile
from sqlalchemy.engine import make_url

from projector.broker import topology as topo
from projector.broker.connection import connect
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.seed import generate_history
from projector.store import EventStore, create_engine_for
from shared.readmodel import keys

READMODEL = Path(sys.executable).with_name("readmodel")


def main() -> int:
    parser = argparse.ArgumentParser(description="End-to-end lag, append → Redis, at a steady rate.")
    parser.add_argument("--rate", type=int, default=1000, help="events appended per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tick", type=float, default=0.02, help="seconds between appends")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--poll-interval", default="0.02", help="the relay's --poll-interval")
    parser.add_argument(
        "--tap", action="store_true", help="also time store → broker with a queue of its own (costs CPU here)"
    )
    args = parser.parse_args()

    per_tick = max(1, round(args.rate * args.tick))
    needed = int(args.rate * args.seconds) + 5 * per_tick
    history: list = []
    workspaces = 50
    while len(history) < needed:
        history = list(generate_history(workspaces, 20, seed=3))
        workspaces *= 2
    suffix = args.suffix = f"bench-{uuid.uuid4().hex[:8]}"
    database = f"readmodel_bench_lag_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    store_url = make_url(args.postgres).set(database=database).render_as_string(hide_password=False)
    engine = create_engine_for(store_url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate(engine)
        store = EventStore(engine)
        with claimed_database(args.redis) as redis_url:
            client: Any = redis.Redis.from_url(redis_url)
            generation, _ = ensure_live_generation(client)
            env = {
                **os.environ,
                "READMODEL_DATABASE_URL": store_url,
                "READMODEL_BROKER_URL": args.broker,
                "READMODEL_REDIS_URL": redis_url,
            }
            for command in (["relay", "--poll-interval", args.poll_interval], ["project"]):
                processes.append(
                    subprocess.Popen(
                        [str(READMODEL), *command, "--names-suffix", suffix],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            lags = _measure(store, client, generation, history, per_tick, args)
            client.close()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        connection = connect(args.broker)
        topo.delete(connection, topo.Topology.with_suffix(suffix))
        connection.release()
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()

    ms = [lag * 1000 for lag in lags]
    print(
        f"{len(ms):,} events at {args.rate:,}/s for {args.seconds:.0f}s: "
        f"lag p50 {percentile(ms, 0.5):.1f} ms, p90 {percentile(ms, 0.9):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
    )
    return 0


def _measure(
    store: EventStore,
    client: Any,
    generation: str,
    history: list,
    per_tick: int,
    args: argparse.Namespace,
) -> list[float]:
    committed: dict[int, float] = {}
    lags: list[float] = []
    relayed: list[float] = []
    done = threading.Event()
    watermark_key = keys.full_key(generation, keys.WATERMARK)

    def tap() -> None:
        """A queue of the bench's own on the events exchange: when does the broker deliver?"""
        from kombu.entity import Queue
        from kombu.messaging import Consumer

        connection = connect(args.broker)
        queue = Queue(
            f"bench.tap.{args.suffix}",
            exchange=topo.events_exchange(topo.Topology.with_suffix(args.suffix)),
            routing_key="#",
            auto_delete=True,
        )

        def arrived(message: Any) -> None:
            at = committed.get(message.headers["position"])
            if at is not None:
                relayed.append(time.monotonic() - at)

        with (
            connection,
            Consumer(connection.default_channel, queues=[queue], on_message=arrived, no_ack=True),
        ):
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    connection.drain_events(timeout=0.1)

    def poll() -> None:
        seen = 0
        while not done.is_set():
            raw = client.get(watermark_key)
            now = time.monotonic()
            mark = 0 if raw is None else int(raw)
            while seen < mark:
                seen += 1
                at = committed.get(seen)
                if at is not None:
                    lags.append(now - at)
            time.sleep(0.001)

    # Warm up: both processes started and one event went all the way through.
    store.append(history[:per_tick])
    deadline = time.monotonic() + 60
    while int(client.get(watermark_key) or 0) < per_tick:
        if time.monotonic() > deadline:
            raise SystemExit("the relay and the projector did not come up within 60 s")
        time.sleep(0.05)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    tapper = threading.Thread(target=tap, daemon=True)
    if args.tap:
        tapper.start()
        time.sleep(0.5)
    # Every tick appends whatever the rate says is due by now: when an append is slow the
    # next one is bigger, so the rate holds on average.
    offset = per_tick
    total = int(args.rate * args.seconds)
    appended = 0
    started = time.monotonic()
    while appended < total:
        due = min(total, int(args.rate * (time.monotonic() - started)))
        if due > appended:
            batch = history[offset : offset + due - appended]
            offset += len(batch)
            appended += len(batch)
            positions = store.append(batch).positions
            now = time.monotonic()
            for position in positions:
                committed[position] = now
        time.sleep(max(0.0, args.tick - (time.monotonic() - started) % args.tick))
    achieved = appended / (time.monotonic() - started)
    head = store.head_position()
    deadline = time.monotonic() + 60
    while int(client.get(watermark_key) or 0) < head and time.monotonic() < deadline:
        time.sleep(0.01)
    done.set()
    poller.join(5)
    if args.tap:
        tapper.join(5)
        ms = [lag * 1000 for lag in relayed]
        print(
            f"store → broker (relay): p50 {percentile(ms, 0.5):.1f} ms, p90 {percentile(ms, 0.9):.1f} ms, "
            f"p99 {percentile(ms, 0.99):.1f} ms",
            file=sys.stderr,
        )
    print(f"appended {appended:,} events, {achieved:,.0f}/s on average", file=sys.stderr)
    return lags


if __name__ == "__main__":
    raise SystemExit(main())
