"""Dify's per-token rate limit across `serve` processes, and in Dify's own Redis.

The read model's processes spend one budget per token wherever it lives: in the read model's
Redis, or, with READMODEL_RATE_LIMIT_REDIS_URL, in Dify's, in the very bucket Dify's
RateLimiter reads (its key, its members, its window), so a token has one budget whichever
side of the gateway serves it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from projector.replay import Rebuild
from projector.seed.history import demo_history
from projector.store import Cursor
from tests.e2e.faults import event_store
from tests.fixtures.redis_server import RedisServer, free_port
from tests.support.processes import command_env, http_get, started

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN_SPENT = {
    "code": "too_many_requests",
    "message": "This user has exceeded an allotted request count. Try again later.",
    "status": 429,
}
DIFY_MEMBER = re.compile(r"^\d+:[A-Za-z0-9_-]{11}$")  # Dify's "{now}:{token_urlsafe(8)}"


@pytest.fixture
def dify_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server standing for Dify's own Redis."""
    (tmp_path / "dify").mkdir()
    server = RedisServer(tmp_path / "dify")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _read_model(tmp_path: Path, redis: RedisServer) -> tuple[str, str, str]:
    """The demo history built into `redis`: (database URL, token, workspace id)."""
    database = f"sqlite:///{tmp_path / 'events.db'}"
    demo = demo_history()
    with event_store(database) as store:
        store.append(demo.events)
        Rebuild(store, redis.client(), cursor_factory=Cursor).run()
    return database, demo.token, demo.workspace_id


def _serve(stack: ExitStack, env: dict[str, str], tmp_path: Path, name: str) -> str:
    """`readmodel serve` on a free port, answering: its /openapi/v1 base URL."""
    port = free_port()
    args = ["serve", "--port", str(port), "--workers", "1"]
    command = stack.enter_context(started(args, env, tmp_path, name))
    base = f"http://127.0.0.1:{port}/openapi/v1"
    command.wait_for(lambda: http_get(f"{base}/_health")[0] == 200, f"{name} to answer")
    return base


def test_two_serve_processes_spend_one_budget_per_token(tmp_path: Path, redis_server: RedisServer) -> None:
    database, token, workspace = _read_model(tmp_path, redis_server)
    env = command_env(
        READMODEL_DATABASE_URL=database,
        READMODEL_REDIS_URL=redis_server.url,
        OPENAPI_RATE_LIMIT_PER_TOKEN="5",
    )
    with ExitStack() as stack:
        first, second = (_serve(stack, env, tmp_path, name) for name in ("serve-a", "serve-b"))
        for base in (first, first, first, second, second):
            assert http_get(f"{base}/apps?workspace_id={workspace}", token)[0] == 200
        for base in (first, second):
            status, headers, body = http_get(f"{base}/apps?workspace_id={workspace}", token)
            assert (status, body) == (429, TOKEN_SPENT)
            assert 1 <= int(headers["retry-after"]) <= 60
        assert http_get(f"{first}/_version", token)[0] == 200  # public routes spend nothing


def test_with_difys_redis_a_token_spends_from_the_bucket_dify_reads(
    tmp_path: Path, redis_server: RedisServer, dify_redis: RedisServer
) -> None:
    database, token, workspace = _read_model(tmp_path, redis_server)
    env = command_env(
        READMODEL_DATABASE_URL=database,
        READMODEL_REDIS_URL=redis_server.url,
        READMODEL_RATE_LIMIT_REDIS_URL=dify_redis.url,
        READMODEL_RATE_LIMIT_KEY_PREFIX="dify",  # Dify's REDIS_KEY_PREFIX
        OPENAPI_RATE_LIMIT_PER_TOKEN="5",
    )
    bucket = f"dify:rl:token_id:token:{hashlib.sha256(token.encode()).hexdigest()}"
    dify = dify_redis.client()
    with ExitStack() as stack:
        base = _serve(stack, env, tmp_path, "serve")
        apps = f"{base}/apps?workspace_id={workspace}"
        for _ in range(2):
            assert http_get(apps, token)[0] == 200

        # Dify's limiter sees them: its members, scored in epoch seconds, kept for two windows.
        members = dify.zrange(bucket, 0, -1, withscores=True)
        assert len(members) == 2
        assert all(DIFY_MEMBER.match(member.decode()) for member, _ in members)
        assert all(abs(score - time.time()) < 30 for _, score in members)
        assert 60 < dify.ttl(bucket) <= 120
        assert not redis_server.client().keys("rm:rl:*")  # nothing in the read model's Redis

        # Three requests Dify served itself, as its RateLimiter counts them.
        now = int(time.time())
        dify.zadd(bucket, {f"{now}:dify-served-{n}": now for n in range(3)})
        status, headers, body = http_get(apps, token)
        assert (status, body) == (429, TOKEN_SPENT)
        assert 1 <= int(headers["retry-after"]) <= 60
        # And Dify's check (drop what left the window, compare the count) refuses it as well.
        dify.zremrangebyscore(bucket, "-inf", int(time.time()) - 60)
        assert dify.zcard(bucket) >= 5
