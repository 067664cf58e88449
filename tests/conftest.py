"""Test fixtures are grouped by the service they stand for; see tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.broker",
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.postgres_server",
    "tests.fixtures.tcp_proxy",
]
