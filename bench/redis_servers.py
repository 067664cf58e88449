"""Private Redis servers for the benchmarks: one plain server, or a three-master cluster.

Both are started from the local `redis-server` with the same settings (no persistence, on
loopback, free ports) so a comparison between them differs only in the topology. The
cluster's URL is `redis+cluster://127.0.0.1:<port of the first master>`, as the read model
takes it (`shared.readmodel.connection.connect`). Everything is stopped and its folder
removed on exit.

The helpers below also speak to either kind of client: on a cluster, flushes, statistics
and `INFO` go to every master and are summed.
"""

from __future__ import annotations

import random
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redis.cluster import RedisCluster

from shared.readmodel.connection import is_cluster

MASTERS = 3
TOPOLOGIES = ("single", "cluster")


@contextmanager
def private_redis(topology: str, cpus: str | None = None) -> Iterator[str]:
    """The URL of a fresh Redis of `topology` ('single' or 'cluster'), stopped afterwards;
    pinned to the CPU list `cpus` (taskset) when given."""
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown topology {topology!r} (expected one of {', '.join(TOPOLOGIES)})")
    cluster = topology == "cluster"
    ports = free_ports(MASTERS if cluster else 1, with_bus=cluster)
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="readmodel-bench-redis-") as workdir:
        try:
            for port in ports:
                processes.append(_start(Path(workdir) / str(port), port, cluster=cluster, cpus=cpus))
            for port in ports:
                _wait_for(["redis-cli", "-p", str(port), "ping"], "PONG")
            if not cluster:
                yield f"redis://127.0.0.1:{ports[0]}/0"
                return
            nodes = [f"127.0.0.1:{port}" for port in ports]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for port in ports:
                _wait_for(["redis-cli", "-p", str(port), "cluster", "info"], "cluster_state:ok")
            yield f"redis+cluster://127.0.0.1:{ports[0]}"
        finally:
            for process in processes:
                process.kill()
                process.wait(10)


def _start(folder: Path, port: int, *, cluster: bool, cpus: str | None) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True)
    # taskset execs redis-server: the process (and its pid) stays the same.
    command = ["taskset", "-c", cpus] if cpus else []
    command += ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    if cluster:
        command += ["--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_ports(count: int, *, with_bus: bool) -> list[int]:
    """Free loopback ports; a cluster node also needs p + 10000 (its bus), and p <= 55535."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(20000, 45000)
        if port not in chosen and _free(port) and (not with_bus or _free(port + 10000)):
            chosen.append(port)
    return chosen


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for(command: list[str], expected: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answer = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        if expected in answer:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(command)} never answered {expected!r} (last: {answer!r})")
        time.sleep(0.1)


def flush(client: Any) -> None:
    """Empty the client's database (every master of a cluster)."""
    if is_cluster(client):
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.flushdb()


def reset_stats(client: Any) -> None:
    if is_cluster(client):
        client.config_resetstat(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.config_resetstat()


def info(client: Any, section: str) -> list[dict[str, Any]]:
    """`INFO section` of each server (one for a single Redis, one per master of a cluster)."""
    if not is_cluster(client):
        return [client.info(section)]
    return list(client.info(section, target_nodes=RedisCluster.PRIMARIES).values())


def used_memory(client: Any) -> int:
    """`used_memory` summed over the servers (on the shared Redis: everyone's, not ours alone)."""
    return sum(int(server["used_memory"]) for server in info(client, "memory"))


def key_count(client: Any) -> int:
    """Keys in the client's database (a cluster has only database 0, on every master)."""
    if not is_cluster(client):
        return client.dbsize()
    return sum(int(server.get("db0", {}).get("keys", 0)) for server in info(client, "keyspace"))


def command_seconds(client: Any) -> dict[str, float]:
    """Seconds each command kept the servers busy since the last reset, summed over them."""
    spent: dict[str, float] = {}
    for server in info(client, "commandstats"):
        for name, fields in server.items():
            spent[name] = spent.get(name, 0.0) + fields["usec"] / 1e6
    return spent


def all_keys(client: Any) -> Iterable[Any]:
    """Every key, from every master of a cluster."""
    if not is_cluster(client):
        yield from client.scan_iter(count=1000)
        return
    for node in client.get_primaries():
        yield from node.redis_connection.scan_iter(count=1000)


def memory_usage(client: Any, names: Iterable[Any]) -> int:
    """The summed `MEMORY USAGE … SAMPLES 0` of the keys that exist (every element counted).

    On a cluster each key is asked of the master that holds its slot, pipelined per master.
    """
    if not is_cluster(client):
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        return sum(size or 0 for size in pipe.execute())
    pipes: dict[str, Any] = {}
    for name in names:
        node = client.get_node_from_key(name)
        if node.name not in pipes:
            pipes[node.name] = node.redis_connection.pipeline(transaction=False)
        pipes[node.name].memory_usage(name, samples=0)
    return sum(size or 0 for pipe in pipes.values() for size in pipe.execute())
