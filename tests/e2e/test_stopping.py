"""SIGTERM (and SIGINT) stop every long-running command within 2 s, in every state it can be in.

States: starting, connecting or retrying a service, idle, mid-batch, mid-rebuild (which
resumes at the next start). The broker-down state of `relay` and `project` is in
test_broker_faults.py. Every stop is timed from the signal to the process's end, and its
output must hold no traceback.
"""

from __future__ import annotations

import re
import signal
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from projector.capture import install
from projector.capture.connect import dify_engine
from projector.generations import ensure_live_generation
from shared.readmodel import keys
from tests.e2e.faults import append_history, caught_up, copy_store, event_store, matches_the_store, watermark
from tests.fixtures.dify_schema import create_dify_schema
from tests.fixtures.postgres_server import PostgresServer
from tests.fixtures.redis_server import RedisServer, free_port
from tests.fixtures.services import BROKER_URL
from tests.support.processes import Command, assert_stops_in_time, command_env, http_get, run_command, started

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LONG_RUNNING = ["up", "relay", "project", "serve", "replay", "source run"]


@dataclass
class World:
    """Where the commands under test find their services, and how each is started."""

    folder: Path
    database: str
    redis: RedisServer
    suffix: str
    port: int
    dify_url: str | None = None

    def env(self, **extra: str) -> dict[str, str]:
        services = {
            "READMODEL_DATABASE_URL": self.database,
            "READMODEL_REDIS_URL": self.redis.url,
            "READMODEL_BROKER_URL": BROKER_URL,
        }
        return command_env(**(services | extra))

    def args(self, command: str) -> list[str]:
        return {
            "up": ["up", "--port", str(self.port), "--workers", "1", "--names-suffix", self.suffix],
            "relay": ["relay", "--names-suffix", self.suffix],
            "project": ["project", "--names-suffix", self.suffix],
            "serve": ["serve", "--port", str(self.port), "--workers", "2"],
            "replay": ["replay", "--batch-size", "50"],
            "source run": [
                "source",
                "run",
                "--dify-database-url",
                self.dify_url or "",
                "--poll-seconds",
                "0.2",
            ],
        }[command]

    def start(self, command: str, **extra: str) -> AbstractContextManager[Command]:
        return started(self.args(command), self.env(**extra), self.folder, name=command.replace(" ", "-"))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/openapi/v1"


@pytest.fixture
def world(tmp_path: Path, redis_server: RedisServer, suffix: str) -> World:
    return World(tmp_path, f"sqlite:///{tmp_path / 'events.db'}", redis_server, suffix, free_port())


@pytest.fixture
def dify(postgres_server: PostgresServer, world: World) -> PostgresServer:
    """Dify's database, on a private PostgreSQL, with the capture installed."""
    world.dify_url = postgres_server.create_database("dify")
    engine = dify_engine(world.dify_url)
    try:
        create_dify_schema(engine)
        install(engine)
    finally:
        engine.dispose()
    return postgres_server


def _needs(command: str, request: pytest.FixtureRequest) -> None:
    if command == "source run":
        request.getfixturevalue("dify")


# --- starting ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", LONG_RUNNING)
def test_a_command_stops_on_time_while_it_is_starting(
    command: str, world: World, request: pytest.FixtureRequest
) -> None:
    _needs(command, request)
    with world.start(command) as running:
        time.sleep(0.3)  # imports, settings, the store's schema: not up yet
        assert running.alive()
        assert_stops_in_time(running)


# --- idle ----------------------------------------------------------------------------------


def _idle(command: str, world: World, running: Command) -> None:
    """Wait until the command is up with nothing to do."""
    if command == "up":
        running.wait_for(lambda: http_get(f"{world.base}/_ready")[0] == 200, "the read model to be ready")
    elif command == "serve":
        running.wait_for(lambda: http_get(f"{world.base}/_health")[0] == 200, "the API to answer")
    elif command == "relay":
        with event_store(world.database) as store:
            head = append_history(store)
            running.wait_for(
                lambda: store.load_cursor("relay").position == head, "the events to be published"
            )
    elif command == "project":
        running.wait_for_output("consuming")
    elif command == "source run":
        running.wait_for_output("following the change feed")
        time.sleep(0.5)  # a poll or two


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", ["up", "relay", "project", "serve", "source run"])
def test_an_idle_command_stops_on_time(
    command: str, signum: int, world: World, request: pytest.FixtureRequest
) -> None:
    _needs(command, request)
    with world.start(command) as running:
        _idle(command, world, running)
        assert assert_stops_in_time(running, signum) == 0


# --- retrying a service ---------------------------------------------------------------------


def test_up_stops_on_time_while_waiting_for_redis(world: World) -> None:
    world.redis.stop()
    with world.start("up") as up:
        up.wait_for(lambda: up.logged("cannot be checked yet"), "up to wait for Redis")
        assert assert_stops_in_time(up) == 0


def test_serve_stops_on_time_while_redis_is_down(world: World) -> None:
    world.redis.stop()
    with world.start("serve") as serve:
        serve.wait_for(lambda: http_get(f"{world.base}/apps?workspace_id=x", "dfoa_x")[0] == 503, "a 503")
        assert assert_stops_in_time(serve) == 0


def test_source_run_stops_on_time_while_difys_database_is_down(world: World, dify: PostgresServer) -> None:
    with world.start("source run") as capture:
        capture.wait_for_output("following the change feed")
        dify.stop()
        capture.wait_for_output("capture: paused")
        assert assert_stops_in_time(capture) == 0


# --- mid-batch -----------------------------------------------------------------------------


def test_relay_and_projector_stop_on_time_mid_batch_and_lose_nothing(world: World, large_store: Path) -> None:
    world.database = copy_store(large_store, world.folder)
    redis = world.redis.client()
    ensure_live_generation(redis)  # an empty read model: every event flows through the broker
    with event_store(world.database) as store:
        head = store.head_position()
        with world.start("relay") as relay, world.start("project") as project:
            project.wait_for(lambda: 0 < (watermark(redis) or 0) < head, "events to be flowing")
            assert assert_stops_in_time(project) == 0
            assert assert_stops_in_time(relay) == 0
        assert (watermark(redis) or 0) < head
        with world.start("relay") as relay, world.start("project") as project:
            project.wait_for(lambda: caught_up(store, redis), "the rest to be applied", timeout=180)
            assert matches_the_store(store, redis)


def test_up_stops_on_time_mid_batch(world: World) -> None:
    with event_store(world.database) as store, world.start("up", READMODEL_REDIS_URL="embedded") as up:
        up.wait_for(lambda: http_get(f"{world.base}/_ready")[0] == 200, "the read model to be ready")
        head = append_history(store, workspaces=60, apps=20)

        def flowing() -> bool:
            position = http_get(f"{world.base}/_ready")[2].get("watermark") or 0
            return 0 < position < head

        up.wait_for(flowing, "the burst to be flowing")
        assert assert_stops_in_time(up) == 0


def test_source_run_stops_on_time_mid_batch(world: World, dify: PostgresServer) -> None:
    assert world.dify_url is not None
    engine = dify_engine(world.dify_url)
    try:
        with engine.begin() as conn:  # a few thousand changes waiting in the feed
            conn.exec_driver_sql(
                "INSERT INTO tenants (name, plan) "
                "SELECT 'Workspace ' || n, 'basic' FROM generate_series(1, 3000) n"
            )
    finally:
        engine.dispose()
    args = [*world.args("source run"), "--batch-size", "20"]
    with started(args, world.env(), world.folder, name="capture") as capture:
        capture.wait_for_output("capture: 20 changes")
        assert assert_stops_in_time(capture) == 0
    assert "capture: " in capture.output()


# --- mid-rebuild ---------------------------------------------------------------------------


def test_replay_stops_on_time_mid_rebuild_and_the_next_resumes(world: World, large_store: Path) -> None:
    world.database = copy_store(large_store, world.folder)
    with world.start("replay") as replay:
        replay.wait_for(lambda: _replaying(replay), "a progress line short of the total")
        assert assert_stops_in_time(replay) == 128 + signal.SIGTERM
        (line,) = [line for line in replay.lines() if line.startswith("readmodel:")]
        assert line == "readmodel: the rebuild was interrupted; the next `readmodel replay` resumes it"
    code, output = run_command(["replay"], world.env(), world.folder)
    assert code == 0, output
    assert "(resumed)" in output


@pytest.mark.parametrize("command", ["up", "project"])
def test_a_self_healing_rebuild_stops_on_time_and_resumes_at_the_next_start(
    command: str, world: World, large_store: Path
) -> None:
    world.database = copy_store(large_store, world.folder)
    redis = world.redis.client()
    with world.start(command) as running:
        # A progress line short of the total: the rebuild is under way, not at its last line
        # (a fast one can log its end before the stop comes, leaving nothing to resume).
        running.wait_for(lambda: _building(running), "the rebuild to be under way")
        assert assert_stops_in_time(running) == 0
    assert redis.get(keys.HEAL_LOCK) is None  # released: the next start need not wait for it
    assert redis.get(keys.REPLAY_POINTER) is not None

    with event_store(world.database) as store, world.start(command) as running:
        # A first build (nothing acknowledged yet) or a heal, resumed either way.
        resumed = ("read model built (resumed)", "read model rebuilt (resumed)")
        running.wait_for(lambda: any(running.logged(line) for line in resumed), "the rebuild to resume")
        assert matches_the_store(store, redis)


def _building(running: Command) -> bool:
    return any(r.get("events", 0) < r.get("total", 0) for r in running.logged("rebuild progress"))


_REPLAY_PROGRESS = re.compile(r"^replay g\w+: [\d.]+% ([\d,]+)/([\d,]+) events")


def _replaying(replay: Command) -> bool:
    for line in replay.lines():
        found = _REPLAY_PROGRESS.match(line)
        if found and int(found[1].replace(",", "")) < int(found[2].replace(",", "")):
            return True
    return False
