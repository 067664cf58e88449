"""A client of the read model's Redis, the same for the projector and the query API."""

from __future__ import annotations

import redis


def connect(url: str) -> redis.Redis:
    """One client (with its connection pool) for `url`; keep-alive so idle pools survive."""
    return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)
