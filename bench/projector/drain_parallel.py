"""Consumer throughput on a backlog with N `readmodel project` processes sharing the partitions.

A seeded history is appended once to a PostgreSQL database made for the run (the seed
database); each run gets a copy of it (`CREATE DATABASE ... TEMPLATE`), so the projector's
acknowledged cursor starts at zero every time and the self-healer has nothing to rebuild.
For each process count N the run relays the whole store into partition queues of its own
(`--partitions`, 4 by default), then starts N `readmodel project` processes, process i
consuming the partitions k with k % N == i, and reads their /metrics every 100 ms until
every message is settled (applied, found a duplicate or dead-lettered). The rate counts
from the first poll that saw progress to the first that saw the last message, so the
processes' start-up is left out. Each run records the load average (as `uptime` prints it)
before and after, and the CPU seconds each process used while draining: on a shared
2-core machine those say whether a second process had a core to itself.

    uv run python bench/projector/drain_parallel.py                   # 1 then 2 processes
    uv run python bench/projector/drain_parallel.py --processes 2,1,2 --workspaces 200
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from common import claimed_database, stop_processes
from sqlalchemy.engine import make_url

from projector.broker import topology as topo
from projector.broker.connection import connect
from projector.broker.publisher import Publisher
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.relay import Relay
from projector.seed import generate_history
from projector.store import EventStore, create_engine_for

READMODEL = Path(sys.executable).with_name("readmodel")
# The counters whose sum is the number of messages a projector has settled.
# Each event is counted once, by the process holding its own owner's partition (copies of it
# for other owners are settled beside, `readmodel_events_copied_total`, not counted here).
SETTLED_COUNTERS = (
    "readmodel_events_applied_total",
    "readmodel_events_duplicated_total",
    "readmodel_events_dead_lettered_total",
)
POLL_SECONDS = 0.1
# Shared services whose CPU time is worth seeing next to the projectors' (by process name).
SERVICES = {"beam.smp": "RabbitMQ", "redis-server": "Redis", "postgres": "PostgreSQL"}
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Drained:
    processes: int
    events: int
    seconds: float
    per_process: list[int]
    cpu_seconds: list[float]
    services: dict[str, float]
    machine_busy: float
    load_before: float
    load_after: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description="Consumer throughput with N projector processes.")
    parser.add_argument("--processes", default="1,2", help="process counts to run, one run each")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--workspaces", type=int, default=400)
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=120.0, help="give up a run after this long")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    if any(n < 1 or n > args.partitions for n in counts):
        raise SystemExit(f"--processes: each count must be between 1 and --partitions ({args.partitions})")

    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    seed_database = f"readmodel_bench_drain_{uuid.uuid4().hex[:8]}"
    results: list[Drained] = []
    try:
        total = _seed(admin, args, seed_database)
        print(f"store: {total:,} events ({args.workspaces} workspaces x {args.apps} apps)", file=sys.stderr)
        for count in counts:
            with _copy_of(admin, args.postgres, seed_database) as store_url:
                drained = _run(count, total, store_url, args)
            print(
                f"{count} process(es): {drained.rate:,.0f} events/s, load {drained.load_before:.2f} "
                f"-> {drained.load_after:.2f}",
                file=sys.stderr,
            )
            results.append(drained)
    finally:
        _drop(admin, seed_database)
        admin.dispose()
    _print_table(results, args.partitions)
    return 0


def _seed(admin: sa.Engine, args: argparse.Namespace, database: str) -> int:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    engine = create_engine_for(_url(args.postgres, database))
    try:
        migrate(engine)
        store = EventStore(engine)
        history = list(generate_history(args.workspaces, args.apps, seed=1))
        for start in range(0, len(history), 5000):
            store.append(history[start : start + 5000])
        return store.count()
    finally:
        engine.dispose()  # a template database must have no open connections


@contextmanager
def _copy_of(admin: sa.Engine, base_url: str, template: str) -> Iterator[str]:
    database = f"{template}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    try:
        yield _url(base_url, database)
    finally:
        _drop(admin, database)


def _drop(admin: sa.Engine, database: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _url(base_url: str, database: str) -> str:
    return make_url(base_url).set(database=database).render_as_string(hide_password=False)


def _run(count: int, total: int, store_url: str, args: argparse.Namespace) -> Drained:
    suffix = f"bench-{uuid.uuid4().hex[:8]}"
    topology = topo.Topology.with_suffix(suffix, partitions=args.partitions)
    engine = create_engine_for(store_url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with claimed_database(args.redis) as redis_url:
            client: Any = redis.Redis.from_url(redis_url)
            ensure_live_generation(client)
            client.close()
            store = EventStore(engine)
            publisher = Publisher(connect(args.broker), topology, store)
            relay = Relay(store, publisher, batch_size=args.batch)
            while relay.run_once():
                pass
            publisher.close()
            print(f"backlog per partition: {_queue_depths(args.broker, topology)}", file=sys.stderr)
            env = {
                **os.environ,
                "READMODEL_DATABASE_URL": store_url,
                "READMODEL_BROKER_URL": args.broker,
                "READMODEL_REDIS_URL": redis_url,
                "READMODEL_PARTITIONS": str(args.partitions),
            }
            ports = [_free_port() for _ in range(count)]
            load_before = os.getloadavg()[0]
            for index, port in enumerate(ports):
                mine = [k for k in range(args.partitions) if k % count == index]
                command = [
                    str(READMODEL),
                    "project",
                    "--names-suffix",
                    suffix,
                    "--batch-size",
                    str(args.batch),
                    "--prefetch",
                    str(args.batch),
                    "--metrics-host",
                    "127.0.0.1",
                    "--metrics-port",
                    str(port),
                    *[f"--partition={k}" for k in mine],
                ]
                processes.append(
                    subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
            return _watch(processes, ports, total, args.timeout, load_before)
    finally:
        stop_processes(processes)
        connection = connect(args.broker)
        topo.delete(connection, topology)
        connection.release()
        engine.dispose()


def _watch(
    processes: Sequence[subprocess.Popen[bytes]],
    ports: Sequence[int],
    total: int,
    timeout: float,
    load_before: float,
) -> Drained:
    """Poll every process's /metrics until `total` messages are settled."""
    deadline = time.monotonic() + timeout
    first: tuple[float, int, list[float], Machine] | None = None
    while True:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"a projector process exited with {process.returncode}")
        now = time.monotonic()
        settled = [_settled(port) for port in ports]
        done = sum(settled)
        if first is None and done > 0:
            first = (now, done, [_cpu_seconds(p.pid) for p in processes], Machine.now())
        if done >= total:
            break
        if now > deadline:
            raise SystemExit(f"only {done:,} of {total:,} messages settled within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)
    assert first is not None
    started, at_start, cpu_at_start, machine_at_start = first
    if done == at_start:  # no second sample to time from
        raise SystemExit(
            f"all {total:,} messages were settled by the first poll that saw any: too few to time "
            "(use more --workspaces)"
        )
    cpu = [_cpu_seconds(p.pid) - before for p, before in zip(processes, cpu_at_start, strict=True)]
    machine = Machine.now()
    return Drained(
        processes=len(processes),
        events=done - at_start,
        seconds=now - started,
        per_process=settled,
        cpu_seconds=cpu,
        services=machine.services_since(machine_at_start),
        machine_busy=machine.busy_since(machine_at_start),
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def _settled(port: int) -> int:
    """The messages one process has settled so far, from its /metrics (0 until it listens)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0
    total = 0.0
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in SETTLED_COUNTERS:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


@dataclass(frozen=True)
class Machine:
    """CPU counters of the whole machine and of the services the projector leans on."""

    busy_ticks: int
    all_ticks: int
    services: dict[int, tuple[str, float]]  # pid -> (service, CPU seconds so far)

    @classmethod
    def now(cls) -> Machine:
        with open("/proc/stat") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle and iowait
        services: dict[int, tuple[str, float]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                name = (entry / "comm").read_text().strip()
                if name in SERVICES:
                    services[int(entry.name)] = (SERVICES[name], _cpu_seconds(int(entry.name)))
            except OSError:  # gone meanwhile
                continue
        return cls(busy_ticks=sum(ticks) - idle, all_ticks=sum(ticks), services=services)

    def busy_since(self, earlier: Machine) -> float:
        """The share of all cores' time spent busy since `earlier` (0..1)."""
        return (self.busy_ticks - earlier.busy_ticks) / max(1, self.all_ticks - earlier.all_ticks)

    def services_since(self, earlier: Machine) -> dict[str, float]:
        """CPU seconds each service used since `earlier`; processes that exited meanwhile are missed."""
        used: dict[str, float] = dict.fromkeys(SERVICES.values(), 0.0)
        for pid, (service, seconds) in self.services.items():
            used[service] += seconds - earlier.services.get(pid, (service, 0.0))[1]
        return used


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14 and stime field 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def _queue_depths(broker: str, topology: topo.Topology) -> list[int]:
    connection = connect(broker)
    try:
        channel: Any = connection.channel()
        depths = [
            channel.queue_declare(queue=topology.queue_name(k), passive=True).message_count
            for k in topology.all_partitions()
        ]
        channel.close()
        return depths
    finally:
        connection.release()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _print_table(results: Sequence[Drained], partitions: int) -> None:
    print(
        f"| processes ({partitions} partitions) | events | seconds | events/s | per process "
        "| CPU s per process | CPU s RabbitMQ / Redis / PostgreSQL | machine busy | load before → after |"
    )
    print("|---:|---:|---:|---:|---|---|---|---:|---|")
    for r in results:
        shares = " / ".join(f"{n:,}" for n in r.per_process)
        cpu = " / ".join(f"{s:.1f}" for s in r.cpu_seconds)
        services = " / ".join(f"{r.services[name]:.1f}" for name in SERVICES.values())
        print(
            f"| {r.processes} | {r.events:,} | {r.seconds:.1f} | {r.rate:,.0f} | {shares} | {cpu} "
            f"| {services} | {r.machine_busy:.0%} | {r.load_before:.2f} → {r.load_after:.2f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
