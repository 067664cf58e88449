"""A client of the read model's Redis, the same for the projector and the query API.

`redis+cluster://host:port` (or `rediss+cluster://`) names any node of a Redis Cluster; the
client discovers the others and routes each command by its key's slot.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from shared.settings import CLUSTER_SCHEMES


def connect(url: str) -> Any:
    """One client (with its connection pools) for `url`; keep-alive so idle pools survive."""
    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        plain = scheme.removesuffix("+cluster")
        return RedisCluster.from_url(f"{plain}://{rest}", socket_keepalive=True)
    return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)


def is_cluster(client: Any) -> bool:
    """True for a Redis Cluster client: multi-key scripts must then stay inside one slot."""
    return isinstance(client, RedisCluster)
