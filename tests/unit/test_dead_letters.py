"""Dead letters: poison is recorded with its reason, everything else flows, a replay settles it."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from projector import wiring
from projector.broker.connection import connect
from projector.broker.consumer import CursorCheckpoint, ProjectorConsumer
from projector.cli import main as cli
from projector.dead_letters import DeadLetter, DeadLetterStore, replay
from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.generations import ensure_live_generation, live_generation
from projector.healing import ACKNOWLEDGED_CURSOR
from projector.replay import Rebuild
from projector.seed import generate_history
from projector.store import Cursor, EventStore
from projector.store.schema import events as events_table
from projector.writer import RedisProjector
from shared.events import StoredEvent
from shared.readmodel import keys
from tests.fixtures.broker import publish_raw, publish_store, run_consumer_until
from tests.support.rows import insert_row

MALFORMED = b'{"id": "not even closed'

# --- the table --------------------------------------------------------------------------


@pytest.fixture
def letters(event_store: EventStore) -> DeadLetterStore:
    return DeadLetterStore(event_store.engine)


def test_a_letter_is_recorded_once_per_event_and_counts_its_attempts(letters: DeadLetterStore) -> None:
    letters.record(
        [DeadLetter(reason="invalid event: name: expected a string", position=7, type="app.updated")]
    )
    letters.record([DeadLetter(reason="invalid event: name: still wrong", position=7, type="app.updated")])
    letters.record([DeadLetter(reason="undecodable message: event: not valid JSON", body=MALFORMED)])

    first, second = letters.read()
    assert (first.position, first.attempts, first.reason) == (7, 2, "invalid event: name: still wrong")
    assert first.last_failed_at >= first.first_failed_at
    assert (second.position, second.body, second.attempts) == (None, MALFORMED, 1)
    assert letters.count() == 2


def test_recording_without_counting_leaves_a_known_letter_alone(letters: DeadLetterStore) -> None:
    letters.record([DeadLetter(reason="first", position=3)])
    letters.record(
        [DeadLetter(reason="from the broker", position=3), DeadLetter(reason="new", position=4)],
        count_attempts=False,
    )

    assert [(x.position, x.reason, x.attempts) for x in letters.read()] == [(3, "first", 1), (4, "new", 1)]


def test_letters_are_removed_by_id_and_read_in_position_order(letters: DeadLetterStore) -> None:
    letters.record([DeadLetter(reason="b", body=b"\xff\x00"), DeadLetter(reason="x", position=9)])
    letters.record([DeadLetter(reason="y", position=2)])
    recorded = letters.read()
    assert [x.position for x in recorded] == [2, 9, None]
    assert recorded[2].to_dict()["body_encoding"] == "base64"

    assert letters.remove([recorded[0].id, recorded[2].id]) == 2
    assert [x.position for x in letters.read()] == [9]


def test_the_migrations_create_the_table_for_every_reader(event_store: EventStore) -> None:
    # No process creates it at run time: a migrated store has it, empty, from the start.
    assert sa.inspect(event_store.engine).has_table("dead_letters")
    fresh = DeadLetterStore(event_store.engine)
    assert fresh.count() == 0
    fresh.record([DeadLetter(reason="r", position=1)])
    assert DeadLetterStore(event_store.engine).count() == 1


# --- poison through the consumer, and the replay after a fix ----------------------------


def _insert_raw(store: EventStore, stream: str, version: int, workspace_id: str, kind: str, data: Any) -> int:
    return insert_row(store, stream, version, workspace_id, kind, orjson.dumps(data).decode())


def _folded(store: EventStore) -> dict[str, object]:
    model = MemoryProjection()
    model.fold_all(list(store.iter_all()))
    return model.dump()


def _live(redis: Any) -> dict[str, object]:
    return dump_generation(redis, redis.get(keys.LIVE_POINTER).decode())


def _last_app_events(store: EventStore) -> list[StoredEvent]:
    last: dict[str, StoredEvent] = {}
    for stored in store.iter_all():
        if stored.event.stream.startswith("app:"):
            last[stored.event.stream] = stored
    return [s for s in last.values() if s.event.type != "app.deleted"]


class TestPoison:
    @pytest.fixture
    def store_backend(self) -> str:
        return "sqlite"

    def test_poison_is_dead_lettered_the_rest_flows_and_a_replay_after_the_fix_settles_it(
        self,
        event_store: EventStore,
        letters: DeadLetterStore,
        fake_redis: Any,
        topology: Any,
        sqlite_url: str,
    ) -> None:
        url = "memory://"
        event_store.append(list(generate_history(3, 4, seed=21)))
        apps = _last_app_events(event_store)
        broken_app = apps[0].event
        other_app = next(s.event for s in apps if s.event.workspace_id != broken_app.workspace_id)
        assert broken_app.workspace_id is not None
        assert other_app.workspace_id is not None
        # An invalid payload, then a valid event behind it on the same stream.
        invalid = _insert_raw(
            event_store,
            broken_app.stream,
            broken_app.version + 1,
            broken_app.workspace_id,
            "app.updated",
            {"name": 12},
        )
        behind = _insert_raw(
            event_store,
            broken_app.stream,
            broken_app.version + 2,
            broken_app.workspace_id,
            "app.updated",
            {"name": "Renamed later"},
        )
        # A type this code does not know, then a known event on the same stream: skipped, not blocked.
        _insert_raw(
            event_store,
            other_app.stream,
            other_app.version + 1,
            other_app.workspace_id,
            "app.archived",
            {"reason": "newer producer"},
        )
        _insert_raw(
            event_store,
            other_app.stream,
            other_app.version + 2,
            other_app.workspace_id,
            "app.updated",
            {"name": "Still flowing"},
        )
        ensure_live_generation(fake_redis)
        published = publish_store(url, topology, event_store)
        publish_raw(url, topology, MALFORMED)
        consumer = ProjectorConsumer(
            connect(url), RedisProjector(fake_redis, event_store), letters, topology=topology, idle_wait=0.05
        )

        run_consumer_until(consumer, lambda: consumer.totals.messages >= published + 1)

        recorded = {x.position: x for x in letters.read()}
        assert set(recorded) == {invalid, behind, None}
        assert recorded[invalid].reason == "invalid event: data.name: expected a string, got an integer"
        assert recorded[invalid].stream == broken_app.stream
        assert recorded[invalid].type == "app.updated"
        assert f"waits behind version {broken_app.version + 1}" in recorded[behind].reason
        assert recorded[None].body == MALFORMED
        assert recorded[None].reason.startswith("undecodable message")
        assert consumer.totals.skipped == 1
        # Every other document is complete; the broken app stays at its last good version.
        assert _live(fake_redis) == _folded(event_store)
        assert keys.stream_state(broken_app.workspace_id or "", broken_app.stream) in _live(fake_redis)

        # dlq list and status show them, from any process.
        env = {"READMODEL_DATABASE_URL": sqlite_url}
        listed = _cli_json(["dlq", "list", "--json"], env)
        assert listed["count"] == 3
        assert [x["position"] for x in listed["dead_letters"]] == [invalid, behind, None]
        assert _cli_json(["status", "--json"], env)["dead_letters"] == {"count": 3}

        # The fix: the row is corrected in the table. A replay settles both letters of the
        # stream, in order; the body that is no event stays, with one more attempt.
        with event_store.engine.begin() as conn:
            conn.execute(
                events_table.update()
                .where(events_table.c.position == invalid)
                .values(data=orjson.dumps({"name": "Fixed"}).decode())
            )
        report = replay(letters, event_store, RedisProjector(fake_redis, event_store))

        assert (report.settled, report.failing) == (2, 1)
        (left,) = letters.read()
        assert (left.position, left.attempts) == (None, 2)
        assert _live(fake_redis) == _folded(event_store)
        generation = fake_redis.get(keys.LIVE_POINTER).decode()
        rows = keys.app_rows(broken_app.workspace_id or "")
        assert b'"name":"Renamed later"' in fake_redis.hget(
            keys.full_key(generation, rows), broken_app.stream_id
        )

    def test_a_replay_of_letters_already_settled_meanwhile_just_removes_them(
        self, event_store: EventStore, letters: DeadLetterStore, fake_redis: Any
    ) -> None:
        event_store.append(list(generate_history(1, 2, seed=4)))
        ensure_live_generation(fake_redis)
        everything = list(event_store.iter_all())
        projector = RedisProjector(fake_redis, event_store)
        projector.apply(everything)
        letters.record([DeadLetter.for_event(everything[3], "could not be applied after repeated conflicts")])

        report = replay(letters, event_store, projector)

        assert (report.settled, report.failing) == (1, 0)
        assert letters.count() == 0


class TestPoisonAtTheHead:
    """A dead letter is settled: it holds neither the watermark, nor readiness, nor self-healing."""

    @pytest.fixture
    def store_backend(self) -> str:
        return "sqlite"

    def _consume(self, store: EventStore, redis: Any, letters: DeadLetterStore, topology: Any) -> None:
        url = "memory://"
        published = publish_store(url, topology, store)  # the relay: a poison row stops nothing
        consumer = ProjectorConsumer(
            connect(url),
            RedisProjector(redis, store),
            letters,
            topology=topology,
            idle_wait=0.05,
            checkpoint=CursorCheckpoint(lambda cursor: store.save_cursor(ACKNOWLEDGED_CURSOR, cursor)),
        )
        run_consumer_until(consumer, lambda: consumer.totals.messages >= published)

    def _app_at_the_head(self, store: EventStore) -> StoredEvent:
        store.append(list(generate_history(2, 3, seed=8)))
        return _last_app_events(store)[0]

    def test_an_invalid_event_at_the_head_is_passed_by_the_watermark(
        self, event_store: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Any
    ) -> None:
        app = self._app_at_the_head(event_store).event
        assert app.workspace_id is not None
        head = _insert_raw(
            event_store, app.stream, app.version + 1, app.workspace_id, "app.updated", {"name": 1}
        )
        ensure_live_generation(fake_redis)

        self._consume(event_store, fake_redis, letters, topology)

        assert [letter.position for letter in letters.read()] == [head]
        assert event_store.load_cursor(ACKNOWLEDGED_CURSOR).position == head  # settled
        # The self-healer's next look (every 2 s) moves the watermark past it: no rebuild.
        assert wiring.self_healer(event_store, fake_redis, threading.Event()).check_and_heal() is None
        assert int(fake_redis.get(keys.full_key(live_generation(fake_redis) or "", keys.WATERMARK))) == head

    def test_a_row_that_is_not_json_is_dead_lettered_by_position_and_nothing_else_stops(
        self, event_store: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Any
    ) -> None:
        app = self._app_at_the_head(event_store).event
        assert app.workspace_id is not None
        broken = insert_row(
            event_store, app.stream, app.version + 1, app.workspace_id, "app.updated", "{oops"
        )
        behind = _insert_raw(
            event_store, app.stream, app.version + 2, app.workspace_id, "app.updated", {"name": "Later"}
        )
        elsewhere = generate_history(1, 1, seed=99)
        event_store.append(list(elsewhere))  # other streams keep flowing after it
        ensure_live_generation(fake_redis)

        self._consume(event_store, fake_redis, letters, topology)

        recorded = {letter.position: letter for letter in letters.read()}
        assert set(recorded) == {broken, behind}
        assert recorded[broken].reason.startswith("invalid event: data: not valid JSON in the store")
        assert (recorded[broken].stream, recorded[broken].type) == (app.stream, "app.updated")
        assert _live(fake_redis) == _folded(event_store)
        # Once the self-healer has looked, the watermark is at the head: nothing waits.
        healer = wiring.self_healer(event_store, fake_redis, threading.Event())
        assert healer.check_and_heal() is None
        watermark = fake_redis.get(keys.full_key(live_generation(fake_redis) or "", keys.WATERMARK))
        assert int(watermark) == event_store.head_position()
        # Re-driving it changes nothing until the row is fixed.
        report = replay(
            letters, event_store, RedisProjector(fake_redis, event_store), ids=[recorded[broken].id]
        )
        assert (report.settled, report.failing) == (0, 1)

    def test_a_dead_letter_at_the_head_does_not_hold_a_rebuilds_flip(
        self, event_store: EventStore, letters: DeadLetterStore, fake_redis: Any, topology: Any
    ) -> None:
        app = self._app_at_the_head(event_store).event
        assert app.workspace_id is not None
        head = insert_row(event_store, app.stream, app.version + 1, app.workspace_id, "app.updated", "null")
        ensure_live_generation(fake_redis)
        self._consume(event_store, fake_redis, letters, topology)
        wiring.self_healer(event_store, fake_redis, threading.Event()).check_and_heal()

        summary = Rebuild(event_store, fake_redis, cursor_factory=Cursor).run()

        assert live_generation(fake_redis) == summary.generation
        watermark = fake_redis.get(keys.full_key(summary.generation, keys.WATERMARK))
        assert int(watermark) == head
        assert fake_redis.hexists(keys.full_key(summary.generation, keys.POISON), str(head))


def _cli_json(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv, env)
    assert code == 0, out.getvalue()
    return orjson.loads(out.getvalue())
