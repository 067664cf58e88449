"""A client of the read model's Redis, the same for the projector and the query API.

`redis+cluster://host:port` (or `rediss+cluster://`) names any node of a Redis Cluster; the
client discovers the others and routes each command by its key's slot.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from shared.errors import ReadModelError
from shared.settings import CLUSTER_SCHEMES


class RedisUnreachableError(ReadModelError):
    """The read model's Redis (every node of its cluster) did not answer."""


def connect(url: str) -> Any:
    """One client (with its connection pools) for `url`; keep-alive so idle pools survive.

    A plain client connects on first use; a cluster client asks a node for the cluster's
    layout at once, so an unreachable cluster raises RedisUnreachableError here.
    """
    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        plain = scheme.removesuffix("+cluster")
        try:
            return RedisCluster.from_url(f"{plain}://{rest}", socket_keepalive=True)
        except (RedisClusterException, redis.RedisError) as exc:
            raise RedisUnreachableError(f"no node of the Redis Cluster answers ({exc})") from None
    return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)


def check_reachable(client: Any) -> None:
    """Raise RedisUnreachableError unless Redis answers a PING."""
    try:
        client.ping()
    except (RedisClusterException, redis.RedisError) as exc:
        raise RedisUnreachableError(f"Redis does not answer ({exc})") from None


def is_cluster(client: Any) -> bool:
    """True for a Redis Cluster client: multi-key scripts must then stay inside one slot."""
    return isinstance(client, RedisCluster)


def bounded_scan(redis: Any, pattern: str, *, budget: int, step: int) -> tuple[list[bytes], bool]:
    """Keys matching `pattern`, examining about `budget` keys at most (on every master of a
    cluster together); True when the whole keyspace was examined."""
    nodes = redis.get_primaries() if is_cluster(redis) else [None]
    found: list[bytes] = []
    examined = 0
    for node in nodes:
        cursor = 0
        while True:
            if examined >= budget:
                return found, False
            if node is None:
                cursor, batch = redis.scan(cursor, match=pattern, count=step)
            else:
                cursors, batch = redis.scan(cursor, match=pattern, count=step, target_nodes=node)
                cursor = cursors[node.name]
            examined += step
            found.extend(batch)
            if cursor == 0:
                break
    return found, True
