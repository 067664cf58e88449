"""The event store contract on a real PostgreSQL, plus what only PostgreSQL can show."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projector.store import Cursor, EventStore
from projector.store.schema import events as events_table
from query_api.operations import sql_store_probe
from shared.errors import StoreError, VersionConflictError
from shared.events import Event
from shared.settings import Settings
from tests.fixtures.database import scratch_database
from tests.support.cli import READMODEL
from tests.unit.test_store import (
    WAIT_SECONDS,
    StoreContract,
    migrated_columns,
    renamed,
    wait_for,
    workspace_stream,
)

pytestmark = pytest.mark.integration


def insert_raw(conn: Connection, event: Event) -> None:
    """Insert an event row inside the caller's (still open) transaction."""
    conn.execute(
        events_table.insert().values(
            id=event.id,
            type=event.type,
            schema=event.schema,
            stream=event.stream,
            version=event.version,
            workspace_id=event.workspace_id,
            occurred_at=event.occurred_at,
            data=orjson.dumps(event.data).decode(),
            recorded_at=datetime.now(UTC),
        ),
    )


def lock_waiters(store: EventStore) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ).scalar_one()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_backend(self) -> str:
        return "postgres"

    def test_read_settled_holds_back_rows_behind_a_running_transaction(self, event_store: EventStore) -> None:
        older, newer = renamed(workspace_stream(), 1), renamed(workspace_stream(), 1)
        with event_store.engine.connect() as transaction_a:
            insert_raw(transaction_a, older)  # takes a position and a transaction id, stays open

            event_store.append([newer])  # a later position, committed
            while_a_runs = event_store.read_settled(Cursor(0, 0), 10)
            assert event_store.read_after(0, 10)[-1].event.id == newer.id

            transaction_a.commit()

        settled = wait_for(lambda: event_store.read_settled(Cursor(0, 0), 10), lambda r: len(r) == 2)
        assert while_a_runs == []
        assert [stored.event.id for _, stored in settled] == [older.id, newer.id]
        (cursor_a, stored_a), (cursor_b, stored_b) = settled
        assert cursor_a.txid is not None
        assert cursor_b.txid is not None
        assert (cursor_a.txid, cursor_a.position) < (cursor_b.txid, cursor_b.position)
        assert (cursor_a.position, cursor_b.position) == (stored_a.position, stored_b.position)
        assert event_store.read_settled(cursor_b, 10) == []

    def test_a_late_commit_below_the_cursor_position_is_still_read(self, event_store: EventStore) -> None:
        late, early = renamed(workspace_stream(), 1), renamed(workspace_stream(), 1)
        with event_store.engine.connect() as transaction_a:
            insert_raw(transaction_a, late)
            event_store.append([early])
            transaction_a.commit()
        first = wait_for(lambda: event_store.read_settled(Cursor(0, 0), 1), lambda r: len(r) == 1)
        assert [stored.event.id for _, stored in first] == [late.id]

        rest = wait_for(lambda: event_store.read_settled(first[0][0], 10), lambda r: len(r) == 1)

        assert [stored.event.id for _, stored in rest] == [early.id]

    @pytest.mark.parametrize("same_event", [False, True], ids=["other-event", "same-event"])
    def test_losing_a_race_for_a_version_is_classified(
        self, event_store: EventStore, same_event: bool
    ) -> None:
        stream = workspace_stream()
        event_store.append([renamed(stream, 1)])
        winner = renamed(stream, 2, "winner")
        loser = winner if same_event else renamed(stream, 2, "loser")
        outcome: list[object] = []

        def append_loser() -> None:
            try:
                outcome.append(event_store.append([loser]))
            except StoreError as error:
                outcome.append(error)

        with event_store.engine.connect() as transaction_a:
            insert_raw(transaction_a, winner)
            appender = threading.Thread(target=append_loser)
            appender.start()
            # The loser read the store before the winner committed and now waits on the
            # UNIQUE index; committing makes its insert fail and the store classify again.
            waiting = wait_for(lambda: lock_waiters(event_store), lambda n: n > 0)
            transaction_a.commit()
        appender.join(timeout=WAIT_SECONDS)

        assert waiting > 0
        assert len(outcome) == 1
        if same_event:
            result = outcome[0]
            assert not isinstance(result, BaseException)
            assert (getattr(result, "new", None), getattr(result, "duplicates", None)) == (0, 1)
        else:
            error = outcome[0]
            assert isinstance(error, VersionConflictError)
            assert (error.version, error.expected) == (2, 3)
        assert [s.event.id for s in event_store.read_stream(stream, 2)] == [winner.id]

    def test_the_transaction_id_column_exists_with_its_index(self, event_store: EventStore) -> None:
        assert "txid" in migrated_columns(event_store, "events")
        inspector = sa.inspect(event_store.engine)
        indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("events")}
        assert indexes["ix_events_txid_position"] == ["txid", "position"]


@pytest.mark.parametrize("encoding", ["SQL_ASCII", "LATIN1"])
def test_a_database_not_in_utf8_is_refused_in_one_line(encoding: str) -> None:
    with scratch_database("readmodel_encoding", encoding=encoding) as url:
        result = subprocess.run(
            [READMODEL, "migrate"],
            env={"READMODEL_DATABASE_URL": url, "PATH": ""},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"readmodel: the event store's database is encoded {encoding}, not UTF8; create it with "
            "ENCODING 'UTF8' (e.g. createdb -E UTF8 -T template0 NAME)"
        ]
        # The API's read-only look at the store refuses it the same way.
        probe = sql_store_probe(Settings.from_env({"READMODEL_DATABASE_URL": url}).database_url)
        with pytest.raises(StoreError, match=f"encoded {encoding}, not UTF8"):
            probe.head()


def test_a_rebuild_waits_for_older_transactions_before_it_flips(
    fresh_postgres_url: str, fake_redis: object
) -> None:
    """A transaction left open elsewhere on the server hides committed events from settled
    reads; a rebuild started meanwhile must not flip to a read model that lacks them."""
    import random

    from projector.migrations import migrate
    from projector.replay import Rebuild
    from projector.store import create_engine_for
    from shared.readmodel import keys
    from tests.support.histories import random_history

    engine = create_engine_for(fresh_postgres_url)
    migrate(engine)
    store = EventStore(engine)
    history = random_history(random.Random(7), steps=40)
    other = sa.create_engine(fresh_postgres_url)
    try:
        with other.connect() as elsewhere:
            elsewhere.exec_driver_sql("SELECT pg_current_xact_id()")  # an open transaction with an id
            store.append(history)
            assert store.read_settled(Cursor(0, 0), 10) == []  # held back behind it
            stop = threading.Event()
            result: list[object] = []
            rebuild = Rebuild(store, fake_redis, cursor_factory=Cursor, stop=stop)
            worker = threading.Thread(target=lambda: result.append(rebuild.run()), daemon=True)
            worker.start()
            worker.join(1.5)
            assert worker.is_alive()  # waiting, not flipped to a read model without those events
            assert fake_redis.get(keys.LIVE_POINTER) is None  # type: ignore[attr-defined]
            elsewhere.rollback()
        worker.join(WAIT_SECONDS)
        assert not worker.is_alive()
        (summary,) = result
        assert summary.events == len(history)  # type: ignore[attr-defined]
    finally:
        other.dispose()
        engine.dispose()
