"""The API suites again, on a real three-master Redis Cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_api_apps import AppContract, AppListContract
from tests.unit.test_api_auth import AuthContract
from tests.unit.test_api_http import HttpContract, OpenApiStatusContract
from tests.unit.test_api_identity import IdentityContract
from tests.unit.test_api_rate_limit import RateLimitContract

pytestmark = pytest.mark.integration


class OnRedisCluster:
    @pytest.fixture
    def redis_client(self, redis_cluster: Any) -> Any:
        return redis_cluster


class TestAuthOnRedisCluster(OnRedisCluster, AuthContract):
    pass


class TestAppListOnRedisCluster(OnRedisCluster, AppListContract):
    pass


class TestAppOnRedisCluster(OnRedisCluster, AppContract):
    pass


class TestIdentityOnRedisCluster(OnRedisCluster, IdentityContract):
    pass


class TestHttpOnRedisCluster(OnRedisCluster, HttpContract):
    pass


class TestOpenApiStatusesOnRedisCluster(OnRedisCluster, OpenApiStatusContract):
    pass


class TestRateLimitOnRedisCluster(OnRedisCluster, RateLimitContract):
    pass
