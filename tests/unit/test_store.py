"""The event store contract, run here on SQLite and in tests/integration on PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import orjson
import pytest
import sqlalchemy as sa

from projector.migrations import current_revision, head_revision, migrate
from projector.store import Cursor, EventStore, create_engine_for
from projector.store.schema import events as events_table
from projector.store.schema import metadata
from shared.errors import (
    DuplicateIdConflictError,
    EventValidationError,
    StoreError,
    StoreUnavailableError,
    VersionConflictError,
)
from shared.events import Event
from shared.readmodel.owners import home_owner, named_account
from tests.support.histories import random_history
from tests.support.rows import insert_row

T = TypeVar("T")
WAIT_SECONDS = 30.0


def wait_for(read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Read until `done` holds or a bounded wait ends; the caller asserts on the result.

    On PostgreSQL a settled read also waits for writing transactions of other clients of
    the same server, so a test gives it a moment instead of expecting rows at once.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def new_id() -> str:
    return str(uuid.uuid4())


def workspace_stream() -> str:
    return f"workspace:{new_id()}"


def renamed(stream: str, version: int, name: str | None = None, *, event_id: str | None = None) -> Event:
    workspace_id = stream.split(":", 1)[1]
    return Event(
        id=event_id or new_id(),
        type="workspace.renamed",
        stream=stream,
        version=version,
        workspace_id=workspace_id,
        occurred_at="2025-03-03T09:00:00+08:00",
        data={"name": name or f"Workspace v{version}"},
    )


def account_created(version: int = 1) -> Event:
    return Event(
        id=new_id(),
        type="account.created",
        stream=f"account:{new_id()}",
        version=version,
        workspace_id=None,
        occurred_at="2025-03-03T09:00:00Z",
        data={"name": "Ada", "email": "ada@example.com", "status": "active"},
    )


def history(stream: str, count: int) -> list[Event]:
    return [renamed(stream, version) for version in range(1, count + 1)]


def migrated_columns(store: EventStore, table: str) -> set[str]:
    """The columns the migrations created (read from a query: reflection does not know xid8)."""
    with store.engine.connect() as conn:
        return set(conn.exec_driver_sql(f"SELECT * FROM {table} WHERE 1 = 0").keys())


class StoreContract:
    """Behaviour every backend of the event store must show."""

    # --- appending ----------------------------------------------------------------------

    def test_an_empty_store(self, event_store: EventStore) -> None:
        assert event_store.head_position() == 0
        assert event_store.count() == 0
        assert event_store.type_counts() == {}
        assert event_store.next_version(workspace_stream()) == 1
        assert event_store.read_after(0, 10) == []
        assert list(event_store.iter_all()) == []

    def test_append_assigns_increasing_positions_and_reads_back(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        batch = history(stream, 3)

        result = event_store.append(batch)

        assert result.new == 3
        assert result.duplicates == 0
        assert list(result.positions) == sorted(set(result.positions))
        stored = event_store.read_after(0, 10)
        assert [s.event for s in stored] == batch
        assert tuple(s.position for s in stored) == result.positions
        assert event_store.head_position() == result.positions[-1]

    def test_data_is_kept_exactly_as_given(self, event_store: EventStore) -> None:
        data = {"name": "Café ☕", "zeta": {"b": [1, 2.5, None, True]}, "alpha": ""}
        event = renamed(workspace_stream(), 1)
        event = Event(**{**event.to_dict(), "data": data})

        event_store.append([event])

        with event_store.engine.connect() as conn:
            raw = conn.execute(sa.select(events_table.c.data)).scalar_one()
        assert raw == orjson.dumps(data).decode()
        (stored,) = event_store.read_after(0, 1)
        assert stored.event.data == data
        assert list(stored.event.data) == ["name", "zeta", "alpha"]
        assert stored.event.occurred_at == "2025-03-03T09:00:00+08:00"

    def test_recorded_at_comes_from_the_clock_in_utc(self, event_store: EventStore) -> None:
        moment = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        store = EventStore(event_store.engine, clock=lambda: moment)

        store.append([renamed(workspace_stream(), 1)])

        (stored,) = store.read_after(0, 1)
        assert stored.recorded_at == moment
        assert stored.recorded_at.utcoffset() is not None

    def test_an_appended_id_again_is_a_duplicate_not_an_error(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        batch = history(stream, 2)
        event_store.append(batch)

        result = event_store.append(batch)

        assert (result.new, result.duplicates, result.positions) == (0, 2, ())
        assert event_store.count() == 2

    def test_a_repeated_event_inside_one_batch_is_a_duplicate(self, event_store: EventStore) -> None:
        event = renamed(workspace_stream(), 1)

        result = event_store.append([event, event])

        assert (result.new, result.duplicates) == (1, 1)
        assert event_store.count() == 1

    def test_duplicates_of_old_versions_mix_with_new_events(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        first, second = history(stream, 2)
        event_store.append([first, second])

        result = event_store.append([first, renamed(stream, 3)])

        assert (result.new, result.duplicates) == (1, 1)
        assert [s.event.version for s in event_store.read_stream(stream)] == [1, 2, 3]

    def test_same_id_with_different_content_is_refused(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        original = renamed(stream, 1, "Before")
        event_store.append([original])
        changed = renamed(stream, 1, "After", event_id=original.id)
        other = renamed(workspace_stream(), 1)

        with pytest.raises(DuplicateIdConflictError) as caught:
            event_store.append([other, changed])

        assert caught.value.event_id == original.id
        assert event_store.count() == 1
        assert event_store.read_after(0, 10)[0].event == original

    def test_same_id_with_different_content_inside_one_batch_is_refused(
        self, event_store: EventStore
    ) -> None:
        first = renamed(workspace_stream(), 1, "One")
        clash = renamed(workspace_stream(), 1, "Two", event_id=first.id)

        with pytest.raises(DuplicateIdConflictError):
            event_store.append([first, clash])

        assert event_store.count() == 0

    def test_a_version_that_is_not_next_is_a_conflict(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 2))

        with pytest.raises(VersionConflictError) as caught:
            event_store.append([renamed(stream, 4)])

        assert (caught.value.stream, caught.value.version, caught.value.expected) == (stream, 4, 3)
        assert event_store.count() == 2

    def test_a_new_version_reusing_a_stored_one_is_a_conflict(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 2))

        with pytest.raises(VersionConflictError) as caught:
            event_store.append([renamed(stream, 2, "someone else's second")])

        assert caught.value.expected == 3

    def test_a_stream_starts_at_version_one(self, event_store: EventStore) -> None:
        with pytest.raises(VersionConflictError) as caught:
            event_store.append([renamed(workspace_stream(), 2)])

        assert caught.value.expected == 1
        assert event_store.count() == 0

    def test_a_gap_inside_one_batch_writes_nothing(self, event_store: EventStore) -> None:
        stream = workspace_stream()

        with pytest.raises(VersionConflictError) as caught:
            event_store.append([renamed(stream, 1), renamed(stream, 3)])

        assert (caught.value.version, caught.value.expected) == (3, 2)
        assert event_store.count() == 0

    def test_a_batch_is_all_or_nothing(self, event_store: EventStore) -> None:
        good = [*history(workspace_stream(), 3), account_created()]
        bad = renamed(workspace_stream(), 5)

        with pytest.raises(VersionConflictError):
            event_store.append([*good, bad])

        assert event_store.count() == 0
        assert event_store.head_position() == 0
        assert event_store.append(good).new == 4

    def test_check_reports_every_problem_without_writing(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        stored = renamed(stream, 1, "Stored")
        event_store.append([stored])
        batch = [
            renamed(stream, 2),
            renamed(stream, 1, "Changed", event_id=stored.id),
            stored,
            renamed(stream, 4),
            renamed(stream, 5),
        ]

        plan = event_store.check(batch)

        assert [(p.index, type(p.error)) for p in plan.problems] == [
            (1, DuplicateIdConflictError),
            (3, VersionConflictError),
        ]
        assert plan.duplicates == 1
        assert event_store.count() == 1

    def test_concurrent_appenders_lose_nothing_and_never_share_a_version(
        self, event_store: EventStore
    ) -> None:
        shared_stream, per_thread = workspace_stream(), 12
        own_streams = [workspace_stream() for _ in range(2)]
        plans = [shared_stream, shared_stream, shared_stream, *own_streams]
        start = threading.Barrier(len(plans))
        failures: list[BaseException] = []

        def append_all(stream: str) -> None:
            try:
                start.wait()
                for _ in range(per_thread):
                    while True:
                        try:
                            event_store.append([renamed(stream, event_store.next_version(stream))])
                            break
                        except VersionConflictError:
                            continue
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=append_all, args=(stream,)) for stream in plans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert failures == []
        assert event_store.count() == len(plans) * per_thread
        shared_versions = [s.event.version for s in event_store.read_stream(shared_stream)]
        assert shared_versions == list(range(1, 3 * per_thread + 1))
        for stream in own_streams:
            versions = [s.event.version for s in event_store.read_stream(stream)]
            assert versions == list(range(1, per_thread + 1))
        positions = [s.position for s in event_store.iter_all(batch_size=7)]
        assert positions == sorted(set(positions))

    # --- reading ------------------------------------------------------------------------

    def test_read_after_pages_through_everything_once(self, event_store: EventStore) -> None:
        streams = [workspace_stream() for _ in range(3)]
        for version in range(1, 9):
            event_store.append([renamed(stream, version) for stream in streams])

        seen: list[int] = []
        position = 0
        while page := event_store.read_after(position, 10):
            assert len(page) <= 10
            seen.extend(s.position for s in page)
            position = page[-1].position

        assert len(seen) == 24
        assert seen == sorted(set(seen))
        assert [s.position for s in event_store.iter_all(batch_size=5)] == seen
        assert event_store.read_after(seen[-1], 10) == []
        assert [s.position for s in event_store.read_after(seen[9], 3)] == seen[10:13]

    def test_read_stream_returns_version_ranges(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 6))
        event_store.append(history(workspace_stream(), 2))

        def versions(**kwargs: int) -> list[int]:
            return [s.event.version for s in event_store.read_stream(stream, **kwargs)]

        assert versions() == [1, 2, 3, 4, 5, 6]
        assert versions(from_version=3) == [3, 4, 5, 6]
        assert versions(from_version=2, to_version=4) == [2, 3, 4]
        assert versions(from_version=5, to_version=5) == [5]
        assert versions(from_version=7) == []
        assert event_store.read_stream(workspace_stream()) == []

    def test_head_counts_and_next_version(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append([*history(stream, 3), account_created(), account_created()])

        assert event_store.count() == 5
        assert event_store.head_position() == event_store.read_after(0, 10)[-1].position
        assert event_store.type_counts() == {"account.created": 2, "workspace.renamed": 3}
        assert event_store.next_version(stream) == 4

    # --- settled reads and cursors ------------------------------------------------------

    def test_read_settled_returns_committed_events_in_cursor_order(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 3))
        event_store.append([renamed(stream, 4)])
        start = event_store.load_cursor("relay")

        first = wait_for(lambda: event_store.read_settled(start, 3), lambda r: len(r) == 3)
        rest = wait_for(lambda: event_store.read_settled(first[-1][0], 10), lambda r: len(r) == 1)

        ordered = [*first, *rest]
        assert [s.event.version for _, s in ordered] == [1, 2, 3, 4]
        cursors = [cursor for cursor, _ in ordered]
        assert all(cursor.position == s.position for cursor, s in ordered)
        assert cursors == sorted(cursors, key=lambda c: (c.txid or 0, c.position))
        assert event_store.read_settled(cursors[-1], 10) == []

    def test_the_settled_horizon_is_the_last_settled_event_never_a_sentinel(
        self, event_store: EventStore
    ) -> None:
        assert event_store.settled_horizon().position == 0
        stream = workspace_stream()
        event_store.append(history(stream, 3))
        head = event_store.head_position()

        horizon = wait_for(event_store.settled_horizon, lambda cursor: cursor.position == head)
        # A rebuild reads up to the horizon in bulk, then the settled events after it.
        assert event_store.read_settled(horizon, 10) == []
        event_store.append([renamed(stream, 4)])
        later = wait_for(lambda: event_store.read_settled(horizon, 10), lambda rows: len(rows) == 1)
        assert later[0][1].event.version == 4

    def test_a_row_whose_data_cannot_be_read_comes_back_marked_instead_of_raising(
        self, event_store: EventStore
    ) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 1))
        workspace = stream.split(":", 1)[1]
        insert_row(event_store, stream, 2, workspace, "workspace.renamed", "{not json")
        insert_row(event_store, stream, 3, workspace, "workspace.renamed", "[1, 2]")
        event_store.append([account_created()])

        first, broken, listed, last = event_store.read_after(0, 10)
        assert first.event.unreadable is None
        assert last.event.unreadable is None
        assert broken.event.unreadable is not None
        assert broken.event.unreadable.startswith("not valid JSON in the store")
        assert listed.event.unreadable == "not a JSON object in the store"
        with pytest.raises(EventValidationError, match="data: not valid JSON"):
            broken.event.payload()
        start = event_store.load_cursor("relay")
        settled = wait_for(lambda: event_store.read_settled(start, 10), lambda rows: len(rows) == 4)
        assert [s.event.unreadable is None for _, s in settled] == [True, False, False, True]
        assert len(event_store.read_stream(stream)) == 3

    def test_cursors_start_at_the_beginning_and_are_saved_by_name(self, event_store: EventStore) -> None:
        start = event_store.load_cursor("relay")
        assert start.position == 0

        event_store.save_cursor("relay", Cursor(txid=7 if start.txid is not None else None, position=3))
        event_store.save_cursor("relay", Cursor(txid=9 if start.txid is not None else None, position=5))
        event_store.save_cursor("other", Cursor(txid=start.txid, position=1))

        assert event_store.load_cursor("relay").position == 5
        assert event_store.load_cursor("relay").txid == (9 if start.txid is not None else None)
        assert event_store.load_cursor("other").position == 1

    def test_a_cursor_advances_only_forward_and_never_past_the_head(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 4))
        start = event_store.load_cursor("relay")
        settled = wait_for(lambda: event_store.read_settled(start, 10), lambda r: len(r) == 4)
        horizon = event_store.settled_horizon()  # on PostgreSQL: the "whole transaction" sentinel
        assert event_store.read_settled(horizon, 10) == []

        moved = event_store.advance_cursor("relay", horizon)

        assert moved.position == event_store.head_position()
        assert event_store.load_cursor("relay") == moved
        assert event_store.read_settled(moved, 10) == []  # it reads as the horizon did
        assert event_store.advance_cursor("relay", settled[0][0]) == moved
        assert event_store.load_cursor("relay") == moved
        event_store.append([renamed(stream, 5)])
        later = wait_for(lambda: event_store.read_settled(moved, 10), lambda r: len(r) == 1)[0][0]
        assert event_store.advance_cursor("relay", later) == later

    def test_names_workspace(self, event_store: EventStore) -> None:
        stream = workspace_stream()
        event_store.append(history(stream, 1))
        workspace = stream.split(":", 1)[1]
        assert event_store.names_workspace(workspace)
        assert not event_store.names_workspace(workspace_stream().split(":", 1)[1])

    # --- schema and errors --------------------------------------------------------------

    def test_migrations_are_idempotent(self, store_url: str) -> None:
        engine = create_engine_for(store_url)
        try:
            assert current_revision(engine) is None
            assert migrate(engine) == head_revision()
            assert migrate(engine) == head_revision()
            assert current_revision(engine) == head_revision()
            EventStore(engine).append([renamed(workspace_stream(), 1)])
            migrate(engine)
            assert EventStore(engine).count() == 1
        finally:
            engine.dispose()

    def test_each_event_is_stored_with_its_streams_owner_and_the_account_it_names(
        self, event_store: EventStore
    ) -> None:
        events = random_history(random.Random(12), steps=150)
        cut = len(events) // 2  # later events of a stream come in another append
        event_store.append(events[:cut])
        event_store.append(events[cut:])
        found = _owners_and_accounts(event_store)
        owners = _expected_owners(events)
        assert {position: owner for position, (owner, _) in found.items()} == {
            position: owners[event.stream] for position, event in enumerate(events, start=1)
        }
        assert {position: account for position, (_, account) in found.items()} == {
            position: named_account(event) for position, event in enumerate(events, start=1)
        }
        sessions = {event.stream for event in events if event.type == "session.used"}
        assert sessions
        # A session's later events carry no account: their owner comes from its issue.
        assert all(owners[stream].startswith(("account:", "sso:")) for stream in sessions)
        assert {s.owner for s in event_store.read_after(0, 1000)} == set(owners.values())

    def test_a_store_of_the_first_revision_is_upgraded_with_owners_and_keeps_its_dead_letters(
        self, store_url: str
    ) -> None:
        from alembic import command

        from projector.dead_letters.store import dead_letters
        from projector.migrations import alembic_config

        events = random_history(random.Random(13), steps=120)
        engine = create_engine_for(store_url)
        try:
            config = alembic_config()
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "0001")
                # Rows as the first revision held them, and the table the projector made itself.
                columns = ("id", "type", "schema", "stream", "version", "workspace_id", "occurred_at", "data")
                table = sa.table("events", *(sa.column(c) for c in (*columns, "recorded_at")))
                conn.execute(
                    table.insert(),
                    [
                        {**{c: getattr(e, c) for c in columns}, "data": orjson.dumps(e.data).decode()}
                        | {"recorded_at": datetime.now(UTC)}
                        for e in events
                    ],
                )
                dead_letters.create(conn)
                conn.execute(
                    dead_letters.insert(),
                    {
                        "key": "position:3",
                        "position": 3,
                        "reason": "earlier",
                        "attempts": 1,
                        "first_failed_at": datetime.now(UTC),
                        "last_failed_at": datetime.now(UTC),
                    },
                )
            assert migrate(engine) == head_revision()
            store = EventStore(engine)
            owners = _expected_owners(events)
            assert {p: o for p, (o, _) in _owners_and_accounts(store).items()} == {
                p: owners[e.stream] for p, e in enumerate(events, start=1)
            }
            assert {p: a for p, (_, a) in _owners_and_accounts(store).items()} == {
                p: named_account(e) for p, e in enumerate(events, start=1)
            }
            from projector.dead_letters import DeadLetterStore

            assert [letter.reason for letter in DeadLetterStore(engine).read()] == ["earlier"]
        finally:
            engine.dispose()

    def test_the_migrated_tables_match_the_query_side_description(self, event_store: EventStore) -> None:
        for table in metadata.sorted_tables:
            assert set(table.columns.keys()) <= migrated_columns(event_store, table.name)
        inspector = sa.inspect(event_store.engine)
        unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("events")}
        assert {("id",), ("stream", "version")} <= unique

    def test_a_store_without_schema_says_to_migrate(self, store_url: str) -> None:
        engine = create_engine_for(store_url)
        try:
            store = EventStore(engine)
            with pytest.raises(StoreError, match="readmodel migrate") as caught:
                store.count()
            assert not isinstance(caught.value, StoreUnavailableError)
            with pytest.raises(StoreError, match="readmodel migrate"):
                store.append([renamed(workspace_stream(), 1)])
        finally:
            engine.dispose()


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store_backend(self) -> str:
        return "sqlite"

    def test_the_database_folder_is_created_and_runs_in_wal_mode(self, tmp_path) -> None:
        engine = create_engine_for(f"sqlite:///{tmp_path / 'deep' / 'er' / 'events.db'}")
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert (tmp_path / "deep" / "er" / "events.db").exists()
        finally:
            engine.dispose()

    def test_a_database_that_cannot_be_opened_is_unavailable(self, tmp_path) -> None:
        # The URL names a folder, which SQLite cannot open as a database file.
        engine = create_engine_for(f"sqlite:///{tmp_path}")
        try:
            with pytest.raises(StoreUnavailableError, match="unavailable"):
                EventStore(engine).head_position()
        finally:
            engine.dispose()


def _owners_and_accounts(store: EventStore) -> dict[int, tuple[str | None, str | None]]:
    statement = sa.select(events_table.c.position, events_table.c.owner, events_table.c.account_id)
    with store.engine.connect() as conn:
        return {row.position: (row.owner, row.account_id) for row in conn.execute(statement)}


def _expected_owners(events: list[Event]) -> dict[str, str]:
    """Each stream's owner, from its first event (shared/readmodel/owners.py)."""
    firsts: dict[str, Event] = {}
    for event in events:
        firsts.setdefault(event.stream, event)
    return {stream: home_owner(first) for stream, first in firsts.items()}


def test_an_unreachable_postgres_is_unavailable() -> None:
    engine = create_engine_for("postgresql+psycopg://postgres@127.0.0.1:1/readmodel")
    try:
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            EventStore(engine).count()
    finally:
        engine.dispose()
