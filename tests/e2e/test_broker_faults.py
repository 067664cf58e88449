"""The broker goes away and comes back: `relay`, `project` and `up` wait it out and stop on time.

The processes reach the shared RabbitMQ through a TCP proxy the test cuts and restores (the
broker itself is never stopped), with exchange and queue names of the test's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.faults import (
    append_history,
    caught_up,
    event_store,
    matches_the_store,
    relay_and_projector,
    watermark,
)
from tests.fixtures.redis_server import RedisServer, free_port
from tests.fixtures.services import BROKER_URL
from tests.fixtures.tcp_proxy import TcpProxy, through
from tests.support.processes import assert_stops_in_time, command_env, http_get, started

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_relay_and_projector_wait_out_a_broker_outage_and_catch_up(
    tmp_path: Path, redis_server: RedisServer, broker_proxy: TcpProxy, suffix: str
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    env = command_env(
        READMODEL_DATABASE_URL=database,
        READMODEL_REDIS_URL=redis_server.url,
        READMODEL_BROKER_URL=through(BROKER_URL, broker_proxy),
    )
    redis = redis_server.client()
    with (
        event_store(database) as store,
        relay_and_projector(env, suffix, tmp_path) as (relay, project),
    ):
        append_history(store)
        project.wait_for(lambda: caught_up(store, redis), "the first events to be applied")

        broker_proxy.cut()
        append_history(store)
        relay.wait_for_output("relay paused")
        project.wait_for_output("broker unavailable")
        before = watermark(redis)

        broker_proxy.restore()
        project.wait_for(lambda: caught_up(store, redis), "the events appended during the outage")
        assert (watermark(redis) or 0) > (before or 0)
        assert matches_the_store(store, redis)

        assert assert_stops_in_time(relay) == 0
        assert assert_stops_in_time(project) == 0


def test_relay_and_projector_stop_on_time_while_retrying_the_broker(
    tmp_path: Path, redis_server: RedisServer, broker_proxy: TcpProxy, suffix: str
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    env = command_env(
        READMODEL_DATABASE_URL=database,
        READMODEL_REDIS_URL=redis_server.url,
        READMODEL_BROKER_URL=through(BROKER_URL, broker_proxy),
    )
    broker_proxy.cut()  # down from the start: they connect, fail, and wait to retry
    with (
        event_store(database) as store,
        relay_and_projector(env, suffix, tmp_path) as (relay, project),
    ):
        append_history(store)
        relay.wait_for_output("relay paused")
        # Past kombu's first waits: the projector is in a long back-off now.
        project.wait_for(lambda: len(project.logged("broker unavailable")) >= 4, "a few retries")

        assert assert_stops_in_time(project) == 0
        assert assert_stops_in_time(relay) == 0


def test_up_on_rabbitmq_waits_out_a_broker_outage_and_keeps_serving(
    tmp_path: Path, broker_proxy: TcpProxy, suffix: str
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    port = free_port()
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_BROKER_URL=through(BROKER_URL, broker_proxy))
    base = f"http://127.0.0.1:{port}/openapi/v1"
    with (
        event_store(database) as store,
        started(["up", "--port", str(port), "--names-suffix", suffix], env, tmp_path) as up,
    ):
        token = up.value("dev token:")

        def position() -> int:
            return int(http_get(f"{base}/_ready")[2].get("watermark") or 0)

        up.wait_for(lambda: position() == store.head_position(), "the demo to be served")

        broker_proxy.cut()
        head = append_history(store)
        up.wait_for_output("relay paused")
        status, _, body = http_get(f"{base}/workspaces", token)
        assert status == 200, body  # the read model still answers, as of before the outage

        broker_proxy.restore()
        up.wait_for(lambda: position() == head, "the events appended during the outage")
        assert assert_stops_in_time(up) == 0
