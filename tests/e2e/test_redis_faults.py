"""Redis goes away and comes back: the API answers 503 meanwhile, the projector heals, nothing dies.

Every test runs a private redis-server it stops and starts (the shared Redis is never
touched); a persistent one comes back with its data, the others come back empty, as a Redis
without persistence does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from projector.replay import Rebuild
from projector.seed.history import demo_history
from projector.store import Cursor
from tests.e2e.faults import (
    append_history,
    caught_up,
    copy_store,
    event_store,
    matches_the_store,
    relay_and_projector,
)
from tests.fixtures.redis_server import RedisServer, free_port
from tests.fixtures.services import BROKER_URL
from tests.support.processes import (
    Command,
    assert_stops_in_time,
    command_env,
    http_get,
    run_command,
    started,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNAVAILABLE = {
    "code": "service_unavailable",
    "message": "The service is temporarily unavailable, please try again later.",
    "status": 503,
}


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server that keeps its data across stop() and start()."""
    server = RedisServer(tmp_path, persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _demo_read_model(database: str, redis: RedisServer) -> tuple[str, str]:
    """The demo history in the store and built into Redis: (token, workspace id)."""
    demo = demo_history()
    with event_store(database) as store:
        store.append(demo.events)
        Rebuild(store, redis.client(), cursor_factory=Cursor).run()
    return demo.token, demo.workspace_id


def _wait_status(command: Command, url: str, token: str | None, status: int) -> tuple[dict[str, str], object]:
    found: list[tuple[dict[str, str], object]] = []

    def answered() -> bool:
        code, headers, body = http_get(url, token)
        found[:] = [(headers, body)]
        return code == status

    command.wait_for(answered, f"{url} to answer {status}")
    return found[0]


def test_serve_answers_503_while_redis_is_down_and_recovers_by_itself(
    tmp_path: Path, persistent_redis: RedisServer
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    token, workspace = _demo_read_model(database, persistent_redis)
    port = free_port()
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=persistent_redis.url)
    base = f"http://127.0.0.1:{port}/openapi/v1"
    apps = f"{base}/apps?workspace_id={workspace}"
    with started(["serve", "--port", str(port), "--workers", "2"], env, tmp_path) as serve:
        _wait_status(serve, apps, token, 200)

        persistent_redis.stop()
        headers, body = _wait_status(serve, apps, token, 503)
        assert body == UNAVAILABLE
        assert headers["retry-after"] == "5"
        assert http_get(f"{base}/_ready")[0] == 503
        assert http_get(f"{base}/_health")[0] == 200

        persistent_redis.start()
        _wait_status(serve, apps, token, 200)
        _wait_status(serve, f"{base}/_ready", None, 200)
        assert serve.logged("read model unavailable")  # one warning line per refused request
        assert assert_stops_in_time(serve) == 0


def test_serve_started_with_redis_down_warns_and_answers_503_until_it_is_up(
    tmp_path: Path, persistent_redis: RedisServer
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    token, workspace = _demo_read_model(database, persistent_redis)
    persistent_redis.stop()
    port = free_port()
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=persistent_redis.url)
    apps = f"http://127.0.0.1:{port}/openapi/v1/apps?workspace_id={workspace}"
    with started(["serve", "--port", str(port), "--workers", "1"], env, tmp_path) as serve:
        headers, body = _wait_status(serve, apps, token, 503)
        assert body == UNAVAILABLE
        assert headers["retry-after"] == "5"
        (warning,) = serve.logged("redis unreachable at start")
        assert warning["level"] == "warning"
        assert warning["redis"] == persistent_redis.url

        persistent_redis.start()
        _wait_status(serve, apps, token, 200)
        assert assert_stops_in_time(serve) == 0


def test_serve_refuses_an_unreachable_cluster_and_a_busy_port_in_one_line(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    cluster = command_env(
        READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=f"redis+cluster://127.0.0.1:{free_port()}"
    )
    code, output = run_command(["serve", "--port", str(free_port())], cluster, tmp_path)
    assert code == 2
    (line,) = [line for line in output.splitlines() if not line.startswith("{")]
    assert line.startswith("readmodel: READMODEL_REDIS_URL: redis+cluster://127.0.0.1:")
    assert "no node of the Redis Cluster answers" in line
    assert "Traceback" not in output

    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        plain = command_env(READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL="redis://127.0.0.1:1/0")
        code, output = run_command(["serve", "--port", str(port), "--workers", "2"], plain, tmp_path)
    assert code == 2
    (line,) = [line for line in output.splitlines() if not line.startswith("{")]
    assert line == f"readmodel: READMODEL_PORT: cannot listen on 127.0.0.1:{port} (Address already in use)"
    assert "Traceback" not in output


def test_the_projector_survives_redis_going_away_and_rebuilds_what_it_lost(
    tmp_path: Path, redis_server: RedisServer, suffix: str
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    env = command_env(
        READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=redis_server.url, READMODEL_BROKER_URL=BROKER_URL
    )
    redis = redis_server.client()
    with (
        event_store(database) as store,
        relay_and_projector(env, suffix, tmp_path) as (relay, project),
    ):
        append_history(store)
        project.wait_for(lambda: caught_up(store, redis), "the first events to be applied")

        redis_server.stop()
        append_history(store)
        project.wait_for(lambda: project.logged("cannot apply a batch"), "the projector to notice")
        project.wait_for(lambda: project.logged("self-heal check failed"), "the healer to notice")

        redis_server.start()  # empty: it had no persistence
        project.wait_for(lambda: caught_up(store, redis), "the read model to be rebuilt", timeout=120)
        assert matches_the_store(store, redis)
        assert project.logged("read model needs a rebuild"), project.output()

        assert assert_stops_in_time(project) == 0
        assert assert_stops_in_time(relay) == 0


def test_up_on_redis_answers_503_while_it_is_down_and_heals_after(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    database = f"sqlite:///{tmp_path / 'events.db'}"
    port = free_port()
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=redis_server.url)
    base = f"http://127.0.0.1:{port}/openapi/v1"
    with started(["up", "--port", str(port), "--workers", "1"], env, tmp_path) as up:
        token, workspace = up.value("dev token:"), up.value("workspace:")
        apps = f"{base}/apps?workspace_id={workspace}"
        _wait_status(up, apps, token, 200)

        redis_server.stop()
        _, body = _wait_status(up, apps, token, 503)
        assert body == UNAVAILABLE
        assert http_get(f"{base}/_ready")[0] == 503

        redis_server.start()  # empty: the healer rebuilds the demo
        _wait_status(up, apps, token, 200)
        _wait_status(up, f"{base}/_ready", None, 200)
        assert assert_stops_in_time(up) == 0


def test_replay_names_redis_in_one_line_when_it_goes_away_and_the_next_replay_resumes(
    tmp_path: Path, persistent_redis: RedisServer, large_store: Path
) -> None:
    database = copy_store(large_store, tmp_path)
    env = command_env(READMODEL_DATABASE_URL=database, READMODEL_REDIS_URL=persistent_redis.url)
    with started(["replay", "--batch-size", "50"], env, tmp_path) as replay:
        replay.wait_for_output("replay g")  # the first progress line: mid-rebuild
        persistent_redis.stop()
        code = replay.wait_exit()
        assert code == 1
        (line,) = [line for line in replay.lines() if line.startswith("readmodel:")]
        assert line.startswith("readmodel: Redis failed during the rebuild (")
        assert line.endswith("; the next `readmodel replay` resumes it")
        replay.assert_no_traceback()

    persistent_redis.start()
    code, output = run_command(["replay"], env, tmp_path)
    assert code == 0, output
    assert "(resumed)" in output
