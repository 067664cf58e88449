"""The event store: appends with the contract's id and version rules, keyset reads, cursors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from projector.store.engine import WRITE_LOCK
from projector.store.errors import RETRYABLE_SQLSTATES, sqlstate, translate, translated_errors
from projector.store.planning import AppendPlan, plan_append
from projector.store.schema import EVENT_COLUMNS, cursors, events
from shared.errors import StoreUnavailableError
from shared.events import Event, StoredEvent
from shared.readmodel.owners import home_owner, named_account

# A lost race is classified by running the append again; a third loss in a row is unusual.
_APPEND_ATTEMPTS = 3
# Ids and streams per IN (...) look-up, well under every driver's parameter limit.
_LOOKUP_CHUNK = 500
_NOTHING: Mapping[str, Any] = MappingProxyType({})
_T = TypeVar("_T")
_SelectT = TypeVar("_SelectT", bound=sa.Select[*tuple[Any, ...]])

# Rows whose transaction (a) has ended and (b) comes after the cursor. The cursor's txid
# arrives as a bigint and xid8 has no cast from it, hence the detour through text.
_SETTLED = sa.text(
    "(events.txid, events.position) > (CAST(CAST(:txid AS text) AS xid8), :position)"
    " AND events.txid < pg_snapshot_xmin(pg_current_snapshot())",
)
_TXID = sa.literal_column("CAST(CAST(events.txid AS text) AS bigint)").label("txid")
# The last row, in cursor order, of the transactions that have ended (served by the
# (txid, position) index, read backwards).
_LAST_SETTLED = sa.text(
    "SELECT CAST(CAST(txid AS text) AS bigint) AS txid, position FROM events"
    " WHERE txid < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY txid DESC, position DESC LIMIT 1",
)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: events written, exact duplicates skipped, positions of the new ones."""

    new: int
    duplicates: int
    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AppendCounts:
    """What an append of many batches did: events written and exact duplicates skipped."""

    new: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Cursor:
    """A reader's place in the settled order: (transaction id, position); txid is None on SQLite."""

    txid: int | None
    position: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventStore:
    """Append-only event storage on SQLite or PostgreSQL, returning frozen records."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- writing ------------------------------------------------------------------------

    def append(self, batch: Sequence[Event]) -> AppendResult:
        """Append a batch in one transaction: all of it or, on any conflict, nothing."""
        batch = tuple(batch)
        if not batch:
            return AppendResult(new=0, duplicates=0, positions=())
        result = _retrying_lost_races(lambda: self._append_once(batch))
        if result is not None:
            return result
        with translated_errors(), self._engine.connect() as conn:
            plan = self._plan(conn, batch)
        if plan.problems:
            raise plan.problems[0].error
        raise StoreUnavailableError("the append kept losing races with concurrent appends; try again")

    def append_batches(
        self,
        batches: Callable[[], Iterable[Sequence[Event]]],
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> AppendCounts:
        """Append batch after batch in one transaction: all of them or, on any conflict, nothing.

        Each batch is classified against the store as this transaction sees it, earlier
        batches included, so memory holds one batch. `batches` makes a fresh iterable: a
        lost race with a concurrent append starts over. `on_batch` gets each batch's size.
        """
        result = _retrying_lost_races(lambda: self._append_batches_once(batches(), on_batch))
        if result is not None:
            return result
        raise StoreUnavailableError("the append kept losing races with concurrent appends; try again")

    def _append_batches_once(
        self, batches: Iterable[Sequence[Event]], on_batch: Callable[[int], None] | None
    ) -> AppendCounts:
        new = duplicates = 0
        with self._writing() as conn:
            for batch in batches:
                plan = self._plan(conn, tuple(batch))
                if plan.problems:
                    raise plan.problems[0].error
                if plan.new:
                    self._insert(conn, plan.new)
                new += len(plan.new)
                duplicates += plan.duplicates
                if on_batch is not None:
                    on_batch(len(batch))
        return AppendCounts(new=new, duplicates=duplicates)

    def check(
        self,
        batch: Sequence[Event],
        *,
        known: Mapping[str, Event] | None = None,
        next_versions: Mapping[str, int] | None = None,
    ) -> AppendPlan:
        """Classify a batch against the store without writing anything.

        `known` (events by id) and `next_versions` (by stream) describe events that come
        before the batch without being stored yet, such as a file's earlier lines; they
        take precedence over the store for the ids and streams they name.
        """
        with translated_errors(), self._engine.connect() as conn:
            return self._plan(conn, tuple(batch), known or {}, next_versions or {})

    def _append_once(self, batch: tuple[Event, ...]) -> AppendResult:
        with self._writing() as conn:
            plan = self._plan(conn, batch)
            if plan.problems:
                raise plan.problems[0].error
            positions = self._insert(conn, plan.new) if plan.new else ()
        return AppendResult(new=len(plan.new), duplicates=plan.duplicates, positions=positions)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE_LOCK: True})
            with conn.begin():
                yield conn

    def _plan(
        self,
        conn: Connection,
        batch: tuple[Event, ...],
        known: Mapping[str, Event] = _NOTHING,
        expected: Mapping[str, int] = _NOTHING,
    ) -> AppendPlan:
        ids = [event_id for event_id in dict.fromkeys(event.id for event in batch) if event_id not in known]
        streams = [
            stream for stream in dict.fromkeys(event.stream for event in batch) if stream not in expected
        ]
        stored: dict[str, Event] = dict(known)
        for chunk in _chunks(ids):
            rows = conn.execute(sa.select(*EVENT_COLUMNS).where(events.c.id.in_(chunk)))
            stored.update((row.id, _to_stored(row).event) for row in rows)
        next_versions: dict[str, int] = dict(expected)
        for chunk in _chunks(streams):
            rows = conn.execute(
                sa.select(events.c.stream, sa.func.max(events.c.version))
                .where(events.c.stream.in_(chunk))
                .group_by(events.c.stream),
            )
            next_versions.update((row[0], int(row[1]) + 1) for row in rows)
        return plan_append(batch, stored, next_versions)

    def _insert(self, conn: Connection, new: tuple[Event, ...]) -> tuple[int, ...]:
        recorded_at = self._clock()
        owners = self._owners(conn, new)
        rows = [
            {
                "id": event.id,
                "type": event.type,
                "schema": event.schema,
                "stream": event.stream,
                "version": event.version,
                "workspace_id": event.workspace_id,
                "occurred_at": event.occurred_at,
                "data": orjson.dumps(event.data).decode(),
                "recorded_at": recorded_at,
                "owner": owners[event.stream],
                "account_id": named_account(event),
            }
            for event in new
        ]
        statement = events.insert().returning(events.c.position, sort_by_parameter_order=True)
        return tuple(conn.execute(statement, rows).scalars())

    def _owners(self, conn: Connection, new: tuple[Event, ...]) -> dict[str, str]:
        """The owner of each stream `new` appends to: decided by the stream's first event,
        in this batch or already stored."""
        owners: dict[str, str] = {}
        for event in new:
            if event.version == 1 and event.stream not in owners:
                owners[event.stream] = home_owner(event)
        later = [stream for stream in dict.fromkeys(e.stream for e in new) if stream not in owners]
        for chunk in _chunks(later):
            rows = conn.execute(
                sa.select(*EVENT_COLUMNS).where(events.c.stream.in_(chunk), events.c.version == 1)
            )
            for row in rows:
                stored = _to_stored(row)
                owners[stored.event.stream] = stored.owner or home_owner(stored.event)
        for event in new:  # no first event anywhere: only a gap allowed by a failed check
            owners.setdefault(event.stream, home_owner(event))
        return owners

    def close(self) -> None:
        """Release the engine's connections."""
        self._engine.dispose()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- reading ------------------------------------------------------------------------

    def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events after `position`, in position order (one keyset page)."""
        statement = (
            sa.select(*EVENT_COLUMNS)
            .where(events.c.position > position)
            .order_by(events.c.position)
            .limit(limit)
        )
        return self._stored(statement)

    def iter_all(self, batch_size: int = 5000) -> Iterator[StoredEvent]:
        """Every event in position order, fetched page by page (bounded memory)."""
        position = 0
        while True:
            page = self.read_after(position, batch_size)
            yield from page
            if len(page) < batch_size:
                return
            position = page[-1].position

    def read_stream(
        self, stream: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        """A stream's events from `from_version` to `to_version` (inclusive), in version order."""
        statement = sa.select(*EVENT_COLUMNS).where(
            events.c.stream == stream, events.c.version >= from_version
        )
        if to_version is not None:
            statement = statement.where(events.c.version <= to_version)
        return self._stored(statement.order_by(events.c.version))

    def positions_after(self, position: int, limit: int) -> list[int]:
        """The positions of up to `limit` events after `position`, in order."""
        statement = (
            sa.select(events.c.position)
            .where(events.c.position > position)
            .order_by(events.c.position)
            .limit(limit)
        )
        return [int(row[0]) for row in self._rows(statement)]

    def head_position(self) -> int:
        """The highest position stored, 0 when the store is empty."""
        return self._scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0)))

    def count(self) -> int:
        return self._scalar(sa.select(sa.func.count()).select_from(events))

    def next_version(self, stream: str) -> int:
        """The version the stream's next event must carry."""
        top = sa.func.coalesce(sa.func.max(events.c.version), 0)
        return self._scalar(sa.select(top).where(events.c.stream == stream)) + 1

    def next_versions(self, streams: Sequence[str]) -> dict[str, int]:
        """The next version of each stream, in one query per chunk of streams."""
        unique = list(dict.fromkeys(streams))
        found: dict[str, int] = dict.fromkeys(unique, 1)
        for chunk in _chunks(unique):
            statement = (
                sa.select(events.c.stream, sa.func.max(events.c.version))
                .where(events.c.stream.in_(chunk))
                .group_by(events.c.stream)
            )
            for stream, top in self._rows(statement):
                found[stream] = int(top) + 1
        return found

    def type_counts(self) -> dict[str, int]:
        """How many events of each type are stored, by type name."""
        statement = sa.select(events.c.type, sa.func.count()).group_by(events.c.type)
        return {row[0]: int(row[1]) for row in sorted(self._rows(statement))}

    # --- settled reading and cursors (the relay) ----------------------------------------

    def read_settled(self, after: Cursor, limit: int) -> list[tuple[Cursor, StoredEvent]]:
        """Up to `limit` events after `after` whose transactions have ended, in cursor order.

        Positions are taken at insert but become visible at commit, so reading by position
        alone would skip a row that commits after a later one was read. On PostgreSQL only
        rows of transactions older than the oldest one still running are returned, ordered
        by (transaction id, position); SQLite has one writer at a time, so position order
        is already the commit order.
        """
        if not self._postgres:
            return [
                (Cursor(None, stored.position), stored) for stored in self.read_after(after.position, limit)
            ]
        statement = (
            sa.select(_TXID, *EVENT_COLUMNS)
            .where(_SETTLED.bindparams(txid=after.txid or 0, position=after.position))
            .order_by(sa.text("events.txid"), events.c.position)
            .limit(limit)
        )
        rows = self._rows(statement)
        found = self._with_owners([_to_stored(row) for row in rows])
        return [(Cursor(row.txid, row.position), stored) for row, stored in zip(rows, found, strict=True)]

    def settled_horizon(self) -> Cursor:
        """The cursor of the last settled event: rebuilds read up to it in bulk.

        On PostgreSQL: every transaction older than the oldest running one has ended, so
        its rows are final; the horizon is the last of them in cursor order, a real event's
        (txid, position), and `read_settled` after it returns only later transactions. On
        SQLite: the head position. An empty store gives the start cursor.
        """
        if not self._postgres:
            return Cursor(None, self.head_position())
        rows = self._rows(_LAST_SETTLED)
        if not rows:
            return Cursor(0, 0)
        return Cursor(int(rows[0].txid), int(rows[0].position))

    def settle_mark(self) -> int | None:
        """A mark of what has committed now: once `settled_through(mark)`, every event
        committed before this call is settled (PostgreSQL: the snapshot's xmax, every
        transaction below it having then ended). None on SQLite, where committed is settled."""
        if not self._postgres:
            return None
        return self._scalar(
            sa.select(
                sa.literal_column("CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text) AS bigint)")
            )
        )

    def settled_through(self, mark: int | None) -> bool:
        """Whether every transaction below `mark` has ended (a transaction left open anywhere
        on the server, in any database, holds this back: PostgreSQL's horizon is server-wide)."""
        if mark is None or not self._postgres:
            return True
        xmin = self._scalar(
            sa.select(
                sa.literal_column("CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)")
            )
        )
        return xmin >= mark

    def names_workspace(self, workspace_id: str) -> bool:
        """Whether any stored event belongs to the workspace."""
        statement = sa.select(events.c.position).where(events.c.workspace_id == workspace_id).limit(1)
        return bool(self._rows(statement))

    def load_cursor(self, name: str) -> Cursor:
        """The saved cursor `name`, or the start of the store."""
        statement = sa.select(cursors.c.txid, cursors.c.position).where(cursors.c.name == name)
        rows = self._rows(statement)
        if not rows:
            return Cursor(0 if self._postgres else None, 0)
        return Cursor(rows[0].txid, rows[0].position)

    def save_cursor(self, name: str, cursor: Cursor) -> None:
        """Store the cursor `name` (insert or replace)."""
        with translated_errors(), self._writing() as conn:
            conn.execute(self._upsert_cursor(name, cursor))

    def _upsert_cursor(self, name: str, cursor: Cursor) -> sa.Executable:
        values = {"name": name, "txid": cursor.txid, "position": cursor.position}
        if self._postgres:
            pg_insert = postgresql.insert(cursors).values(values)
            statement = pg_insert.on_conflict_do_update(
                index_elements=[cursors.c.name],
                set_={"txid": pg_insert.excluded.txid, "position": pg_insert.excluded.position},
            )
        else:
            lite_insert = sqlite.insert(cursors).values(values)
            statement = lite_insert.on_conflict_do_update(
                index_elements=[cursors.c.name],
                set_={"txid": lite_insert.excluded.txid, "position": lite_insert.excluded.position},
            )
        return statement

    def advance_cursor(self, name: str, cursor: Cursor) -> Cursor:
        """Move the cursor `name` forward to `cursor` (never back); returns where it stands.

        A cursor whose position is the "whole transaction" sentinel is stored with the
        store's head instead: every row of an ended transaction is at or below the head,
        so it reads the same, and it shows a real position.
        """
        with translated_errors(), self._writing() as conn:
            row = conn.execute(
                sa.select(cursors.c.txid, cursors.c.position).where(cursors.c.name == name)
            ).first()
            head = int(
                conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0))).scalar_one()
            )
            target = Cursor(cursor.txid, min(cursor.position, head))
            if row is not None and (row.txid or 0, row.position) >= (target.txid or 0, target.position):
                return Cursor(row.txid, row.position)
            conn.execute(self._upsert_cursor(name, target))
        return target

    # --- owners (shared/readmodel/owners.py) -------------------------------------------

    def owners_after(self, after: str | None, limit: int) -> list[str]:
        """Distinct owners in order, after `after` (a keyset page)."""
        statement = sa.select(events.c.owner).where(events.c.owner.is_not(None))
        if after is not None:
            statement = statement.where(events.c.owner > after)
        statement = statement.group_by(events.c.owner).order_by(events.c.owner).limit(limit)
        return [row[0] for row in self._rows(statement)]

    def read_owner(
        self, owner: str, horizon: Cursor, after: tuple[str, int] | None, limit: int
    ) -> list[StoredEvent]:
        """One owner's settled events, by (stream, version); owner "": the rows written
        around the append, without one.

        Only events before `horizon` (see settled_horizon) are returned; `after` is the
        (stream, version) keyset of the previous page.
        """
        chosen = events.c.owner.is_(None) if owner == "" else events.c.owner == owner
        statement = sa.select(*EVENT_COLUMNS).where(chosen)
        statement = self._before(horizon, statement)
        if after is not None:
            stream, version = after
            statement = statement.where(
                sa.or_(
                    events.c.stream > stream,
                    sa.and_(events.c.stream == stream, events.c.version > version),
                )
            )
        statement = statement.order_by(events.c.stream, events.c.version).limit(limit)
        return self._stored(statement)

    def read_owners(
        self,
        horizon: Cursor,
        after: tuple[str, str, int] | None,
        limit: int,
        *,
        first: str | None = None,
        before: str | None = None,
    ) -> list[StoredEvent]:
        """Settled events of the owners from `first` to before `before` (None: no bound), by
        (owner, stream, version): a bulk rebuild's read, one keyset page of the owner index
        after `after` ((owner, stream, version) read last).

        Rows without an owner are left out (`read_owner("")` reads them); only events before
        `horizon` (see settled_horizon) are returned.
        """
        statement = self._before(horizon, sa.select(*EVENT_COLUMNS).where(events.c.owner.is_not(None)))
        if first is not None:
            statement = statement.where(events.c.owner >= first)
        if before is not None:
            statement = statement.where(events.c.owner < before)
        if after is not None:
            statement = statement.where(
                sa.tuple_(events.c.owner, events.c.stream, events.c.version) > sa.tuple_(*after)
            )
        statement = statement.order_by(events.c.owner, events.c.stream, events.c.version).limit(limit)
        return [_to_stored(row) for row in self._rows(statement)]

    def owner_splits(self, parts: int) -> list[str]:
        """Owners that cut the owner index into `parts` runs of about as many events (fewer
        on a small store): where parallel rebuild workers start."""
        total = self._scalar(
            sa.select(sa.func.count()).select_from(events).where(events.c.owner.is_not(None))
        )
        found: list[str] = []
        for part in range(1, parts):
            statement = (
                sa.select(events.c.owner)
                .where(events.c.owner.is_not(None))
                .order_by(events.c.owner)
                .offset(total * part // parts)
                .limit(1)
            )
            rows = self._rows(statement)
            if rows and rows[0][0] not in found and (not found or rows[0][0] > found[-1]):
                found.append(rows[0][0])
        return found

    def _before(self, horizon: Cursor, statement: _SelectT) -> _SelectT:
        """`statement` restricted to the events before `horizon` (see settled_horizon)."""
        if self._postgres:
            return statement.where(
                sa.text("events.txid <= CAST(CAST(:horizon AS text) AS xid8)").bindparams(
                    horizon=horizon.txid or 0
                )
            )
        return statement.where(events.c.position <= horizon.position)

    def authored_workspaces(self, account_ids: Sequence[str]) -> dict[str, set[str]]:
        """For each account, the workspaces with an app it created: those that show its name."""
        found: dict[str, set[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(account_ids))):
            statement = (
                sa.select(events.c.account_id, events.c.workspace_id)
                .where(events.c.account_id.in_(chunk), events.c.type == "app.created")
                .distinct()
            )
            for account_id, workspace_id in self._rows(statement):
                if workspace_id is not None:
                    found.setdefault(account_id, set()).add(workspace_id)
        return found

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Whole streams, each in version order, in one query per chunk of streams."""
        found: dict[str, list[StoredEvent]] = {stream: [] for stream in streams}
        for chunk in _chunks(list(dict.fromkeys(streams))):
            statement = (
                sa.select(*EVENT_COLUMNS)
                .where(events.c.stream.in_(chunk))
                .order_by(events.c.stream, events.c.version)
            )
            for stored in self._stored(statement):
                found[stored.event.stream].append(stored)
        return found

    def membership_events(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[StoredEvent]]:
        """For each (workspace id, account id): the workspace stream's events that name the
        account, with those that create the workspace, in version order: all an account's
        membership of the workspace derives from."""
        pairs = list(dict.fromkeys(pairs))
        streams = list(dict.fromkeys(f"workspace:{workspace_id}" for workspace_id, _ in pairs))
        accounts = list(dict.fromkeys(account_id for _, account_id in pairs))
        naming: list[StoredEvent] = []
        creating: dict[str, dict[int, StoredEvent]] = {}
        for chunk in _chunks(streams):
            for account_chunk in _chunks(accounts):
                # One round trip: the events naming the accounts, and those creating the
                # workspaces (a partial index holds just these).
                statement = sa.union_all(
                    sa.select(*EVENT_COLUMNS).where(
                        events.c.stream.in_(chunk), events.c.account_id.in_(account_chunk)
                    ),
                    sa.select(*EVENT_COLUMNS).where(
                        events.c.stream.in_(chunk), events.c.type == "workspace.created"
                    ),
                )
                for stored in self._stored(statement):
                    if stored.event.type == "workspace.created":
                        creating.setdefault(stored.event.stream, {})[stored.position] = stored
                    else:
                        naming.append(stored)
        found: dict[tuple[str, str], list[StoredEvent]] = {
            pair: list(creating.get(f"workspace:{pair[0]}", {}).values()) for pair in pairs
        }
        for stored in naming:
            pair = (stored.event.stream_id, named_account(stored.event) or "")
            if pair in found:
                found[pair].append(stored)
        for events_of_pair in found.values():
            events_of_pair.sort(key=lambda stored: stored.event.version)
        return found

    # --- helpers ------------------------------------------------------------------------

    def _stored(self, statement: sa.Executable) -> list[StoredEvent]:
        return self._with_owners([_to_stored(row) for row in self._rows(statement)])

    def _with_owners(self, found: list[StoredEvent]) -> list[StoredEvent]:
        """Fill in the owner of rows written without one (around the append), from the first
        event of their streams."""
        missing = list(dict.fromkeys(s.event.stream for s in found if s.owner is None))
        if not missing:
            return found
        owners: dict[str, str] = {}
        for chunk in _chunks(missing):
            statement = sa.select(*EVENT_COLUMNS).where(events.c.stream.in_(chunk), events.c.version == 1)
            for row in self._rows(statement):
                first = _to_stored(row)
                owners[first.event.stream] = first.owner or home_owner(first.event)
        return [
            s if s.owner is not None else replace(s, owner=owners.get(s.event.stream) or home_owner(s.event))
            for s in found
        ]

    def _rows(self, statement: sa.Executable) -> list[Any]:
        with translated_errors(), self._engine.connect() as conn:
            return list(conn.execute(statement))

    def _scalar(self, statement: sa.Executable) -> int:
        with translated_errors(), self._engine.connect() as conn:
            return int(conn.execute(statement).scalar_one())


def _to_stored(row: Any) -> StoredEvent:
    recorded_at: datetime = row.recorded_at
    # SQLite hands timestamps back without a zone; the store writes them in UTC.
    recorded_at = (
        recorded_at.replace(tzinfo=UTC) if recorded_at.tzinfo is None else recorded_at.astimezone(UTC)
    )
    data, unreadable = _read_data(row.data)
    event = Event(
        id=row.id,
        type=row.type,
        schema=row.schema,
        stream=row.stream,
        version=row.version,
        workspace_id=row.workspace_id,
        occurred_at=row.occurred_at,
        data=data,
        unreadable=unreadable,
    )
    return StoredEvent(position=row.position, event=event, recorded_at=recorded_at, owner=row.owner)


def _retrying_lost_races(attempt: Callable[[], _T]) -> _T | None:
    """Run an append again after it lost a race; None when every attempt lost one."""
    for _ in range(_APPEND_ATTEMPTS):
        try:
            return attempt()
        except sa_exc.IntegrityError:
            # A concurrent append committed the same id or stream version after this one
            # read the store; the UNIQUE constraints caught it. Classify again.
            continue
        except sa_exc.DBAPIError as error:
            if sqlstate(error) in RETRYABLE_SQLSTATES:
                continue
            raise translate(error) from error
    return None


def _read_data(text: str) -> tuple[dict[str, Any], str | None]:
    """A row's data, or why it cannot be read: a row written around `append` may hold anything,
    and it must reach the dead letters rather than stop every reader of the store."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return {}, f"not valid JSON in the store ({exc.msg})"
    if not isinstance(data, dict):
        return {}, "not a JSON object in the store"
    return data, None


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _LOOKUP_CHUNK):
        yield items[start : start + _LOOKUP_CHUNK]
