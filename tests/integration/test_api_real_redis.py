"""The API suites again, on a real Redis (a private database number, flushed around each test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.fixtures.services import REDIS_URL, need
from tests.unit.test_api_apps import AppContract, AppListContract
from tests.unit.test_api_auth import AuthContract
from tests.unit.test_api_http import HttpContract, OpenApiStatusContract
from tests.unit.test_api_identity import IdentityContract
from tests.unit.test_api_rate_limit import RateLimitContract

pytestmark = pytest.mark.integration

CLAIM = "readmodel-test:claim:{}"  # the claim keys every test run honours


def redis_url_for(db: int) -> str:
    """REDIS_URL pointing at database `db` (a db in the URL's path wins over a `db=` argument)."""
    parts = urlsplit(REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


@pytest.fixture(scope="session")
def api_redis_db() -> Iterator[int]:
    """A database number of the real Redis that no other test run uses meanwhile."""
    need("Redis", REDIS_URL, 6379)
    admin = redis.Redis.from_url(redis_url_for(0))
    claimed = next(
        (n for n in range(15, 0, -1) if admin.set(CLAIM.format(n), os.getpid(), nx=True, ex=3600)), None
    )
    if claimed is None:
        pytest.fail("every Redis database 1-15 is claimed by another test run")
    try:
        yield claimed
    finally:
        redis.Redis.from_url(redis_url_for(claimed)).flushdb()
        admin.delete(CLAIM.format(claimed))
        admin.close()


@pytest.fixture
def api_real_redis(api_redis_db: int) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url_for(api_redis_db))
    assert client.connection_pool.connection_kwargs["db"] == api_redis_db
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class OnRealRedis:
    @pytest.fixture
    def redis_client(self, api_real_redis: Any) -> Any:
        return api_real_redis


class TestAuthOnRealRedis(OnRealRedis, AuthContract):
    pass


class TestAppListOnRealRedis(OnRealRedis, AppListContract):
    pass


class TestAppOnRealRedis(OnRealRedis, AppContract):
    pass


class TestIdentityOnRealRedis(OnRealRedis, IdentityContract):
    pass


class TestHttpOnRealRedis(OnRealRedis, HttpContract):
    pass


class TestOpenApiStatusesOnRealRedis(OnRealRedis, OpenApiStatusContract):
    pass


class TestRateLimitOnRealRedis(OnRealRedis, RateLimitContract):
    pass
