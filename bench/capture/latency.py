"""Dify commit → visible in the API: the whole path, one change at a time.

A scratch PostgreSQL database plays Dify's (its schema and writes from
tests/fixtures/dify_schema.py), with `readmodel source install` in it; another one holds
the event store (both made as the tests make theirs, on READMODEL_TEST_DATABASE_URL's
server, by default 127.0.0.1:5432). `readmodel source run`, `relay`, `project` (RabbitMQ, exchange and queue
names of their own) and `serve` (one granian worker, a claimed Redis database) run as their
own processes, as deployed. Then it commits `--changes` renames one at a time, alternating a
workspace rename (seen in `GET /workspaces`) and an app rename (seen in `GET /apps`), and
polls the API every millisecond until it shows each; the latency is from just before
Dify's COMMIT to the first answer that shows it. Everything it created is removed at the end.

    uv run python bench/capture/latency.py                     # 200 changes, ~30 s
    uv run python bench/capture/latency.py --no-listen         # the poll alone (1 s)
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis
import sqlalchemy as sa

from bench.projector.common import claimed_database, percentile, stop_processes
from projector.broker import topology as topo
from projector.broker.connection import connect
from projector.generations import ensure_live_generation
from projector.migrations import migrate
from projector.store import EventStore, create_engine_for
from tests.fixtures.database import scratch_database
from tests.fixtures.dify_schema import DifyActor, create_dify_schema
from tests.fixtures.redis_server import free_port

READMODEL = Path(sys.executable).with_name("readmodel")
CHAT = {"opening_statement": "Hello", "user_input_form": []}


def main() -> int:
    parser = argparse.ArgumentParser(description="Dify commit → visible in the API, one change at a time.")
    parser.add_argument("--changes", type=int, default=200, help="renames to commit and time")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds from one change seen to the next")
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--poll-seconds", default="1", help="`source run --poll-seconds`")
    parser.add_argument("--no-listen", action="store_true", help="`source run --no-listen`: poll only")
    args = parser.parse_args()

    suffix = f"bench-{uuid.uuid4().hex[:8]}"
    commits: dict[str, datetime] = {}
    with (
        scratch_database("readmodel_bench_dify", timezone="UTC") as dify_url,
        scratch_database("readmodel_bench_store") as store_url,
        claimed_database(args.redis) as redis_url,
    ):
        store = create_engine_for(store_url)
        migrate(store)
        store.dispose()
        client: Any = redis.Redis.from_url(redis_url)
        ensure_live_generation(client)
        client.close()
        dify = sa.create_engine(dify_url)
        create_dify_schema(dify)
        port = free_port()
        env = {
            **os.environ,
            "READMODEL_DATABASE_URL": store_url,
            "READMODEL_BROKER_URL": args.broker,
            "READMODEL_REDIS_URL": redis_url,
            "READMODEL_METRICS_PORT": "0",
            "OPENAPI_RATE_LIMIT_PER_TOKEN": "0",  # the latency probe polls faster than a budget allows
        }
        source = ["source", "run", "--dify-database-url", dify_url, "--poll-seconds", args.poll_seconds]
        if args.no_listen:
            source.append("--no-listen")
        subprocess.run(
            [str(READMODEL), "source", "install", "--dify-database-url", dify_url], env=env, check=True
        )
        world = populate(DifyActor(dify))
        commands = [
            source,
            ["relay", "--names-suffix", suffix],
            ["project", "--names-suffix", suffix],
            ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        ]
        try:
            with processes(commands, env):
                api = Api(port, world["token"])
                api.wait_for(lambda: api.workspace_name() == "Rename 0", seconds=60)
                api.wait_for(lambda: api.app_name(world["workspace"]) == "App 0", seconds=60)
                lags = measure(dify, api, world, args, commits)
        finally:
            dify.dispose()
            connection = connect(args.broker)
            topo.delete(connection, topo.Topology.with_suffix(suffix))
            connection.release()
        to_store = captured(store_url, commits)

    ms = [lag * 1000 for lag in lags]
    store_ms = [lag * 1000 for lag in to_store.values()]
    print(
        f"of which Dify commit → in the event store (source run): p50 {percentile(store_ms, 0.5):.1f} ms, "
        f"p99 {percentile(store_ms, 0.99):.1f} ms, max {max(store_ms):.1f} ms",
        file=sys.stderr,
    )
    mode = "poll only" if args.no_listen else "LISTEN/NOTIFY"
    print(
        f"{len(ms)} changes ({mode}, poll {args.poll_seconds} s): Dify commit → visible in the API "
        f"p50 {percentile(ms, 0.5):.1f} ms, p90 {percentile(ms, 0.9):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
    )
    return 0


def populate(actor: DifyActor) -> dict[str, str]:
    """A workspace, its owner with a difyctl login, and a chat app."""
    workspace = actor.create_workspace("Rename 0")
    account = actor.create_account("Ada", "ada@example.com")
    actor.join(workspace, account, "owner", current=True)
    app = actor.create_app(workspace, "App 0", "chat", account, config=CHAT)
    _, token = actor.mint_token(account_id=account, email="ada@example.com")
    return {"workspace": workspace, "app": app, "token": token}


def measure(
    dify: sa.Engine, api: Api, world: dict[str, str], args: argparse.Namespace, commits: dict[str, datetime]
) -> list[float]:
    """Commit the renames one by one; the seconds until each shows, and (in `commits`) when
    each was committed, by the wall clock the store's `recorded_at` uses."""
    lags: list[float] = []
    for n in range(1, args.changes + 1):
        if n % 2:
            name = f"Rename {n}"
            sql = "UPDATE tenants SET name = :name, updated_at = now() WHERE id = :id"
            row, shown = world["workspace"], api.workspace_name
        else:
            name = f"App {n}"
            sql = "UPDATE apps SET name = :name, updated_at = now() WHERE id = :id"
            row, shown = world["app"], lambda: api.app_name(world["workspace"])
        with dify.connect() as conn:
            conn.execute(sa.text(sql), {"name": name, "id": row})
            committing, committing_at = time.monotonic(), datetime.now(UTC)
            conn.commit()
        lags.append(api.wait_for(lambda name=name, shown=shown: shown() == name, since=committing))
        commits[name] = committing_at
        time.sleep(args.gap)
    return lags


def captured(store_url: str, commits: dict[str, datetime]) -> dict[str, float]:
    """Per change, Dify commit → appended to the event store (its `recorded_at`), in seconds."""
    engine = create_engine_for(store_url)
    try:
        renames = (
            stored
            for stored in EventStore(engine).iter_all()
            if stored.event.type in ("workspace.renamed", "app.updated")
            and stored.event.data.get("name") in commits
        )
        return {
            stored.event.data["name"]: (
                stored.recorded_at - commits[stored.event.data["name"]]
            ).total_seconds()
            for stored in renames
        }
    finally:
        engine.dispose()


class Api:
    """The read model's HTTP API on one keep-alive connection, as difyctl's caller."""

    def __init__(self, port: int, token: str) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self._headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        try:
            self._connection.request("GET", f"/openapi/v1{path}", headers=self._headers)
            response = self._connection.getresponse()
            body = response.read()
        except OSError:
            self._connection.close()
            return None
        return orjson.loads(body) if response.status == 200 else None

    def workspace_name(self) -> str | None:
        body = self.get("/workspaces")
        return body["workspaces"][0]["name"] if body and body["workspaces"] else None

    def app_name(self, workspace_id: str) -> str | None:
        body = self.get(f"/apps?workspace_id={workspace_id}")
        return body["data"][0]["name"] if body and body["data"] else None

    def wait_for(
        self, shown: Callable[[], bool], *, since: float | None = None, seconds: float = 10.0
    ) -> float:
        """Poll every millisecond until `shown()`; the seconds from `since` (or from now)."""
        start = time.monotonic() if since is None else since
        while not shown():
            if time.monotonic() - start > seconds:
                raise SystemExit(f"not visible in the API after {seconds} s")
            time.sleep(0.001)
        return time.monotonic() - start


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str]) -> Iterator[None]:
    started = [
        subprocess.Popen(
            [str(READMODEL), *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in commands
    ]
    try:
        yield
    finally:
        stop_processes(started)


if __name__ == "__main__":
    raise SystemExit(main())
