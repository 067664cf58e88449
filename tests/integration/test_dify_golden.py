"""The read model beside a real Dify: every answer Dify recorded in the golden kit, compared.

A fresh PostgreSQL database gets the kit's Dify dump; `readmodel source` captures it (install,
snapshot, then `run` following while `changes.sql` is applied); the live event flow projects
the store into a private Redis database; the API answers every request of the kit's matrix,
with expiry judged at the time the kit was recorded. Each answer must equal Dify's (status,
Content-Type, WWW-Authenticate, body with key order), after the kit's README's
normalisations, except where the read model differs on purpose (tests/support/golden.py,
docs/api.md "Differences from Dify"), where the intended answer is asserted instead.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from sqlalchemy.engine import make_url

from projector import wiring
from projector.broker.flow import EventFlow
from projector.cli.wiring import open_store
from projector.store import EventStore
from query_api.app import create_app
from shared.readmodel import keys
from shared.readmodel.connection import connect
from shared.settings import Settings
from tests.fixtures.database import scratch_database
from tests.fixtures.redis import database_url
from tests.support.cli import READMODEL
from tests.support.golden import Answer, Kit, Request, differences, intended
from tests.support.limits import UNLIMITED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATCH_UP_SECONDS = 60


@pytest.fixture(scope="module")
def kit() -> Kit:
    if not Kit.available():
        pytest.fail("the golden kit ../shared/dify-golden is missing beside the repository")
    return Kit()


@pytest.fixture(scope="module")
def dify_url(kit: Kit) -> Iterator[str]:
    """A PostgreSQL database holding the kit's Dify dump (Dify runs its database in UTC)."""
    with scratch_database("readmodel_golden_dify", timezone="UTC") as url:
        _psql(url, kit.folder / "before.sql")
        yield url


class World:
    """The capture, the event flow and the API over one store and one Redis database."""

    def __init__(self, kit: Kit, dify_url: str, store_url: str, redis_url: str) -> None:
        self.kit = kit
        self.dify_url = dify_url
        self.env = {"READMODEL_DATABASE_URL": store_url, "PATH": "/usr/bin:/bin"}
        self.settings = Settings.from_env(
            {"READMODEL_DATABASE_URL": store_url, "READMODEL_DIFY_VERSION": "1.14.2"}
        )
        self.redis = connect(redis_url)
        self.store: EventStore = open_store(self.settings)
        self.flow: EventFlow | None = None
        self.capture: subprocess.Popen[str] | None = None
        app = create_app(
            Settings.from_env(
                {
                    "READMODEL_DATABASE_URL": store_url,
                    "READMODEL_REDIS_URL": redis_url,
                    "READMODEL_DIFY_VERSION": "1.14.2",
                    **UNLIMITED,
                }
            ),
            redis=self.redis,
            clock=kit.recorded_at_epoch,
        )
        self.client = falcon.testing.TestClient(app)

    def source(self, *argv: str) -> str:
        done = subprocess.run(
            [READMODEL, "source", *argv, "--dify-database-url", self.dify_url],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    def start(self) -> None:
        self.flow = wiring.event_flow(self.settings, self.store, self.redis)
        self.flow.start()
        self.capture = subprocess.Popen(
            [READMODEL, "source", "run", "--dify-database-url", self.dify_url, "--poll-seconds", "0.2"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> None:
        if self.capture is not None:
            self.capture.terminate()
            try:
                self.capture.wait(10)
            except subprocess.TimeoutExpired:
                self.capture.kill()
                self.capture.wait()
            if self.capture.stderr is not None:
                self.capture.stderr.close()
        if self.flow is not None:
            self.flow.stop()
        self.store.engine.dispose()
        self.redis.close()

    def caught_up(self) -> bool:
        head = self.store.head_position()
        live = self.redis.get(keys.LIVE_POINTER)
        if live is None:
            return False
        watermark = self.redis.get(keys.full_key(live.decode(), keys.WATERMARK))
        return watermark is not None and int(watermark) >= head

    def answer(self, request: Request) -> Answer:
        authorization = self.kit.authorization(request)
        headers = {} if authorization is None else {"Authorization": authorization}
        result = self.client.simulate_get(
            request.path, query_string=request.query_string or None, headers=headers
        )
        kept = dict(result.headers.items())
        content_type = kept.get("content-type")
        compared = {
            "Content-Type": content_type,
            "WWW-Authenticate": kept.get("www-authenticate"),
            "X-Frame-Options": kept.get("x-frame-options"),
            "Content-Security-Policy": kept.get("content-security-policy"),
        }
        body: Any = result.json if content_type == "application/json" and result.content else result.text
        return Answer(result.status_code, {k: v for k, v in compared.items() if v is not None}, body)


@pytest.fixture(scope="module")
def world(
    kit: Kit, dify_url: str, tmp_path_factory: pytest.TempPathFactory, real_redis_db: int
) -> Iterator[World]:
    store_url = f"sqlite:///{tmp_path_factory.mktemp('golden') / 'events.db'}"
    world = World(kit, dify_url, store_url, database_url(real_redis_db))
    world.redis.flushdb()
    try:
        world.source("install")
        world.source("snapshot")
        world.start()
        yield world
    finally:
        world.stop()
        world.redis.flushdb()


def _compare(world: World, phase: str) -> list[str]:
    failures = []
    for request in world.kit.phase(phase):
        recorded = world.kit.answers[phase][request.id]
        expected, _why = intended(world.kit, request, recorded)
        found = differences(expected, world.answer(request), request.path)
        if found:
            failures.append(f"{request.id} ({request.path_and_query}):\n  " + "\n  ".join(found))
    return failures


def _settled_comparison(world: World, phase: str) -> list[str]:
    """Compare once the read model has caught up with the store and the capture with Dify."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    failures: list[str] = []
    while time.monotonic() < deadline:
        if world.caught_up():
            failures = _compare(world, phase)
            if not failures:
                return []
        time.sleep(0.5)
    return failures or ["the read model never caught up with the store"]


def test_every_answer_equals_difys_before_and_after_the_changes(world: World, kit: Kit) -> None:
    before = _settled_comparison(world, "before")
    assert not before, f"{len(before)} answers differ before the changes:\n" + "\n".join(before)

    _psql(world.dify_url, kit.folder / "changes.sql")
    after = _settled_comparison(world, "after")
    assert not after, f"{len(after)} answers differ after the changes:\n" + "\n".join(after)


def test_the_kit_exercises_every_deliberate_difference(kit: Kit) -> None:
    reasons = set()
    for request in kit.requests:
        _, why = intended(kit, request, kit.answers[request.phase][request.id])
        if why is not None:
            reasons.add(why)
    assert reasons == {
        "a non-UUID workspace id is unknown, not a 500",
        "a bearer Dify cannot resolve is a 401",
        "the seed's per-app routes stay served",
        "limit up to 200 on the list",
    }


def _psql(url: str, script: Path) -> None:
    psql = shutil.which("psql")
    assert psql is not None, "psql (PostgreSQL's client) is needed to restore the kit's dump"
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run(
        [psql, "-v", "ON_ERROR_STOP=1", "-q", "-d", libpq, "-f", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
