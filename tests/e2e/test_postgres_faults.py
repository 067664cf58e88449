"""PostgreSQL goes away and comes back: every process waits it out, nothing dies, nothing is lost.

The event store (and, for the capture, Dify's database) lives on a private PostgreSQL cluster
the test stops and starts (the shared one is never touched).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from projector.capture import install
from projector.capture.connect import dify_engine
from tests.e2e.faults import append_history, caught_up, event_store, matches_the_store, relay_and_projector
from tests.fixtures.dify_schema import DifyActor, create_dify_schema
from tests.fixtures.postgres_server import PostgresServer
from tests.fixtures.redis_server import RedisServer, free_port
from tests.fixtures.services import BROKER_URL
from tests.support.processes import (
    assert_stops_in_time,
    command_env,
    http_get,
    run_command,
    started,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_relay_projector_and_api_wait_out_a_store_outage(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer, suffix: str
) -> None:
    database = postgres_server.create_database("events")
    env = command_env(
        READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=redis_server.url, READMODEL_BROKER_URL=BROKER_URL
    )
    redis = redis_server.client()
    port = free_port()
    ready = f"http://127.0.0.1:{port}/openapi/v1/_ready"
    with (
        event_store(database) as store,
        relay_and_projector(env, suffix, tmp_path) as (relay, project),
        started(["serve", "--port", str(port), "--workers", "1"], env, tmp_path) as serve,
    ):
        append_history(store)
        project.wait_for(lambda: caught_up(store, redis), "the first events to be applied")
        serve.wait_for(lambda: http_get(ready)[0] == 200, "the API to be ready")

        acknowledged = append_history(store, workspaces=20)  # in flight as the store goes away
        postgres_server.stop()
        relay.wait_for_output("relay paused")
        project.wait_for(lambda: project.logged("self-heal check failed"), "the healer to notice")
        status, _, body = http_get(ready)
        assert status == 200, body  # Redis answers: the API serves, and says what it cannot judge
        assert body["notes"][0].startswith("store unreachable")

        postgres_server.start()
        # An outage, not a store that forgets: what it acknowledged is still there, so the
        # read model must come to hold it, whether or not the relay got it out before the stop.
        assert store.head_position() == acknowledged
        head = append_history(store)
        project.wait_for(lambda: caught_up(store, redis), "the events appended around the outage")
        assert store.head_position() == head
        assert matches_the_store(store, redis)

        for command in (relay, project, serve):
            assert assert_stops_in_time(command) == 0


def test_up_on_postgres_keeps_serving_through_a_store_outage(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    database = postgres_server.create_database("events")
    port = free_port()
    base = f"http://127.0.0.1:{port}/openapi/v1"
    env = command_env(READMODEL_DATABASE_URL=database)
    with event_store(database) as store, started(["up", "--port", str(port)], env, tmp_path) as up:
        token = up.value("dev token:")

        def position() -> int:
            return int(http_get(f"{base}/_ready")[2].get("watermark") or 0)

        up.wait_for(lambda: position() == store.head_position(), "the demo to be served")

        postgres_server.stop()
        up.wait_for_output("relay paused")
        assert http_get(f"{base}/workspaces", token)[0] == 200

        postgres_server.start()
        head = append_history(store)
        up.wait_for(lambda: position() == head, "the events appended after the outage")
        assert assert_stops_in_time(up) == 0


def test_replay_with_the_store_down_is_one_line(tmp_path: Path, postgres_server: PostgresServer) -> None:
    database = postgres_server.create_database("events")
    postgres_server.stop()
    env = command_env(
        READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    code, output = run_command(["replay"], env, tmp_path)
    assert code == 2
    (line,) = output.splitlines()
    assert line.startswith("readmodel: the event store is unavailable: ")


def test_source_run_waits_out_an_outage_of_difys_database(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    dify_url = postgres_server.create_database("dify")
    dify = dify_engine(dify_url)
    create_dify_schema(dify)
    install(dify)
    actor = DifyActor(dify)
    database = f"sqlite:///{tmp_path / 'events.db'}"
    env = command_env(READMODEL_DATABASE_URL=database)
    args = ["source", "run", "--dify-database-url", dify_url, "--poll-seconds", "0.1"]
    try:
        with event_store(database) as store, started(args, env, tmp_path, name="capture") as capture:
            actor.create_workspace("Before the outage")
            capture.wait_for(lambda: store.count() > 0, "the first change to be captured")
            before = store.count()

            postgres_server.stop()
            capture.wait_for_output("capture: paused")
            postgres_server.start()
            dify.dispose()  # the test's own connections died with the server
            actor.create_workspace("After the outage")
            capture.wait_for(lambda: store.count() > before, "the change made after the outage")

            assert assert_stops_in_time(capture) == 0
    finally:
        dify.dispose()
