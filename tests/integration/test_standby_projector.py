"""`readmodel project` processes on four partitions, killed (-9) while events flow.

A process subscribed after another to the same queues waits on each (RabbitMQ's single
active consumer) and takes over the partitions of one that dies. Whatever is killed when,
the read model must end equal to the store's fold, stream by stream at the store's last
version, and to what the events mean (the oracle of tests/support/oracle.py).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families

from projector.broker.connection import connect
from projector.broker.topology import Topology
from projector.dead_letters import DeadLetterStore
from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.fold.state import split_stored
from projector.generations import ensure_live_generation
from projector.relay import RELAY_CURSOR
from projector.seed import generate_history
from projector.store import EventStore
from projector.store.memory import EventIndex
from shared.events import Event
from shared.readmodel import keys
from shared.readmodel.owners import owner_id
from tests.fixtures.broker import partitioned_suffix
from tests.fixtures.redis import database_url
from tests.support.cli import READMODEL
from tests.support.oracle import expected as meant
from tests.support.oracle import served

pytestmark = pytest.mark.integration

PARTITIONS = 4
# The share of the history appended before the kill; the rest is appended after it, so
# only the surviving process can have applied it.
BEFORE_KILL = 0.6


@pytest.fixture
def store_backend() -> str:
    return "postgres"


@pytest.fixture
def suffix(rabbitmq_url: str) -> Iterator[str]:
    with partitioned_suffix(rabbitmq_url, PARTITIONS) as value:
        yield value


@pytest.fixture(params=["redis", "redis-cluster"])
def read_model(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """(client, URL) of the read model's Redis: this run's own database of the shared Redis,
    or the session's three-master cluster; emptied before and after the test."""
    if request.param == "redis-cluster":
        yield request.getfixturevalue("redis_cluster"), request.getfixturevalue("redis_cluster_url")
        return
    url = database_url(request.getfixturevalue("real_redis_db"))
    client = redis_lib.Redis.from_url(url)
    client.flushdb()
    yield client, url
    client.flushdb()
    client.close()


class Process:
    """A `readmodel` command in its own process group, its log kept in a file for failures."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [READMODEL, *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own, so killpg reaches it and nothing else
            )

    def logged(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def tail(self, lines: int = 15) -> str:
        """The last lines of the log, without the migrations' chatter, for an assertion message."""
        kept = [line for line in self.log.read_text(errors="replace").splitlines() if "alembic" not in line]
        return "\n".join(kept[-lines:])

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def stop(self) -> None:
        """SIGTERM (the projector settles its buffer), then SIGKILL if it lingers."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(15)
        if self.popen.poll() is None:
            self.kill()


class Projector(Process):
    """`readmodel project` serving /metrics on its own port, to tell what this process applied."""

    def __init__(self, env: dict[str, str], suffix: str, log: Path, partitions: tuple[int, ...] = ()) -> None:
        self.metrics_port = _free_port()
        argv = ["project", "--names-suffix", suffix, "--batch-size", "50", "--prefetch", "100"]
        for partition in partitions:
            argv += ["--partition", str(partition)]
        argv += ["--metrics-host", "127.0.0.1", "--metrics-port", str(self.metrics_port)]
        super().__init__(argv, env, log)

    def applied(self) -> int:
        """Events this process applied to Redis (duplicates not counted), from its /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return int(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "readmodel_events_applied_total"
            )
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(store_url: str, rabbitmq_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "READMODEL_DATABASE_URL": store_url,
        "READMODEL_BROKER_URL": rabbitmq_url,
        "READMODEL_REDIS_URL": redis_url,
        "READMODEL_PARTITIONS": str(PARTITIONS),
        "READMODEL_METRICS_PORT": "0",  # the projectors get a port each
    }


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def _append_steadily(store: EventStore, events: list[Event], chunk: int = 10) -> None:
    """Append a slice at a time, so events keep flowing while a projector is killed."""
    for start in range(0, len(events), chunk):
        store.append(events[start : start + chunk])
        time.sleep(0.05)


def _folded(store: EventStore) -> dict[str, object]:
    model = MemoryProjection()
    model.fold_all(store.iter_all())
    return model.dump()


def _stale_streams(store: EventStore, redis: Any, generation: str) -> list[str]:
    """Streams whose state in Redis (their owner's) is not at the store's last version."""
    last: dict[str, tuple[str, int]] = {}
    for stored in store.iter_all():
        last[stored.event.stream] = (owner_id(stored.owner or ""), stored.event.version)
    stale: list[str] = []
    for stream, (owner, version) in last.items():
        raw = redis.hget(keys.full_key(generation, keys.stream_state(owner, stream)), "v")
        if raw is None or split_stored(raw)[0] != version:
            stale.append(f"{stream}: Redis at {raw!r}, store at {version}")
    return stale


def _queue_figures(rabbitmq_url: str, topology: Topology) -> dict[int, tuple[int, int]]:
    """Per partition: (messages ready, consumers), as RabbitMQ reports them."""
    connection = connect(rabbitmq_url)
    try:
        channel: Any = connection.channel()
        figures: dict[int, tuple[int, int]] = {}
        for k in topology.all_partitions():
            declared = channel.queue_declare(queue=topology.queue_name(k), passive=True)
            figures[k] = (int(declared.message_count), int(declared.consumer_count))
        channel.close()
        return figures
    finally:
        connection.release()


@pytest.mark.slow
def test_the_standby_projector_takes_over_every_partition_of_a_killed_one(
    event_store: EventStore,
    store_url: str,
    read_model: tuple[Any, str],
    rabbitmq_url: str,
    suffix: str,
    tmp_path: Path,
) -> None:
    redis_client, redis_url = read_model
    history = list(generate_history(30, 4, seed=3))
    cut = int(len(history) * BEFORE_KILL)
    topology = Topology.with_suffix(suffix, partitions=PARTITIONS)
    # Only the survivor can apply what is appended after the kill: it must span every partition.
    owners = [stored.owner or "" for stored in EventIndex().record(history)]
    assert {topology.partition_of(owner) for owner in owners[cut:]} == set(topology.all_partitions())
    generation, _ = ensure_live_generation(redis_client)
    env = _env(store_url, rabbitmq_url, redis_url)

    def watermark() -> int:
        raw = redis_client.get(keys.full_key(generation, keys.WATERMARK))
        return 0 if raw is None else int(raw)

    processes: list[Process] = []
    appender = threading.Thread(target=_append_steadily, args=(event_store, history[:cut]), daemon=True)
    try:
        relay_argv = ["relay", "--batch-size", "100", "--names-suffix", suffix]
        relay = Process(relay_argv, env, tmp_path / "relay.log")
        processes.append(relay)
        first = Projector(env, suffix, tmp_path / "first.log")
        processes.append(first)
        assert _wait(lambda: first.logged("consuming"), timeout=20), first.tail()
        # Subscribed after the first one to the same queues: waiting on every partition.
        second = Projector(env, suffix, tmp_path / "second.log")
        processes.append(second)
        assert _wait(lambda: second.logged("consuming"), timeout=20), second.tail()

        appender.start()
        assert _wait(lambda: first.applied() > 0, timeout=20), first.tail()
        time.sleep(random.Random(4).uniform(0.0, 0.5))  # somewhere in the flow, not at a batch edge
        applied_by_first = first.applied()  # a lower bound: it may apply more before the signal lands
        assert second.applied() == 0, "the second projector applied events while the first was active"
        first.kill()  # -9, mid-stream: its unacknowledged deliveries go back to the queues
        assert first.popen.returncode == -signal.SIGKILL
        appender.join(30)
        assert not appender.is_alive()
        _append_steadily(event_store, history[cut:])

        head = event_store.head_position()
        assert head == len(history)
        assert _wait(lambda: watermark() == head, timeout=30), second.tail()
        expected = _folded(event_store)
        assert _wait(
            lambda: dump_generation(redis_client, generation) == expected, timeout=15, interval=0.25
        ), second.tail()

        # Whatever the first had not applied, the second applied, and nothing twice: what it
        # was redelivered of the first's work it found already in Redis.
        assert len(history) - cut <= second.applied() <= len(history) - applied_by_first
        assert second.popen.poll() is None, second.tail()
        figures = _queue_figures(rabbitmq_url, topology)
        # Every partition drained, by the one consumer left on it.
        assert figures == dict.fromkeys(topology.all_partitions(), (0, 1))
        verified = subprocess.run(
            [READMODEL, "verify"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "no differences" in verified.stdout
    finally:
        if appender.is_alive():  # a failed wait: let it finish before the store is dropped
            appender.join(30)
        for process in reversed(processes):
            process.stop()

    assert event_store.load_cursor(RELAY_CURSOR).position == head
    assert DeadLetterStore(event_store.engine).count() == 0
    assert _stale_streams(event_store, redis_client, generation) == []
    assert dump_generation(redis_client, generation) == expected


@pytest.mark.slow
def test_two_projectors_on_their_own_partitions_and_a_standby_survive_kills_at_any_moment(
    event_store: EventStore,
    store_url: str,
    redis_cluster: Any,
    redis_cluster_url: str,
    rabbitmq_url: str,
    suffix: str,
    tmp_path: Path,
) -> None:
    """On the cluster: two projectors on disjoint partitions (each the only writer of its
    owners' keys) and a standby behind both; each of the two is killed (-9) at a random
    moment while events are appended, and the standby ends up writing every partition."""
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)  # named in the failure messages below, to run it again
    history = list(generate_history(30, 4, seed=seed % 1000))
    generation, _ = ensure_live_generation(redis_cluster)
    env = _env(store_url, rabbitmq_url, redis_cluster_url)

    def watermark() -> int:
        raw = redis_cluster.get(keys.full_key(generation, keys.WATERMARK))
        return 0 if raw is None else int(raw)

    processes: list[Process] = []
    appender = threading.Thread(target=_append_steadily, args=(event_store, history), daemon=True)
    try:
        processes.append(
            Process(["relay", "--batch-size", "100", "--names-suffix", suffix], env, tmp_path / "relay.log")
        )
        halves = (tuple(range(PARTITIONS // 2)), tuple(range(PARTITIONS // 2, PARTITIONS)))
        workers = [Projector(env, suffix, tmp_path / f"p{i}.log", halves[i]) for i in range(2)]
        processes.extend(workers)
        for worker in workers:
            assert _wait(lambda worker=worker: worker.logged("consuming"), timeout=20), worker.tail()
        standby = Projector(env, suffix, tmp_path / "standby.log")
        processes.append(standby)
        assert _wait(lambda: standby.logged("consuming"), timeout=20), standby.tail()

        appender.start()
        started = time.monotonic()
        # Each at its own random moment of the appends (about 3 s long), batch edges or not.
        moments = sorted((rng.uniform(0.2, 2.5), i) for i in range(2))
        for number, (moment, i) in enumerate(moments):
            time.sleep(max(0.0, started + moment - time.monotonic()))
            if number == 0:  # the standby waits while both partitions' projectors live
                assert standby.applied() == 0, standby.tail()
            workers[i].kill()
            assert workers[i].popen.returncode == -signal.SIGKILL
        appender.join(60)
        assert not appender.is_alive()

        head = event_store.head_position()
        assert head == len(history)
        assert _wait(lambda: watermark() == head, timeout=60), f"seed {seed}\n{standby.tail()}"
        expected = _folded(event_store)
        assert _wait(
            lambda: dump_generation(redis_cluster, generation) == expected, timeout=20, interval=0.25
        ), f"seed {seed}\n{standby.tail()}"
        dump = dump_generation(redis_cluster, generation)
        assert served(dump).as_dict() == meant(event_store.iter_all()).as_dict(), f"seed {seed}"
        assert standby.popen.poll() is None, standby.tail()
        figures = _queue_figures(rabbitmq_url, Topology.with_suffix(suffix, partitions=PARTITIONS))
        assert figures == dict.fromkeys(range(PARTITIONS), (0, 1))  # drained, by the standby alone
        verified = subprocess.run(
            [READMODEL, "verify"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        if appender.is_alive():
            appender.join(60)
        for process in reversed(processes):
            process.stop()

    assert DeadLetterStore(event_store.engine).count() == 0
    assert _stale_streams(event_store, redis_cluster, generation) == []
