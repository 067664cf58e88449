"""A read-only look at the event store from the API process: its head, cursors and dead letters.

The query side never imports the projector, so the few columns read here are named again;
a contract test checks them against the store's own schema. Only SELECTs run here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from shared.errors import StoreUnavailableError
from shared.store_encoding import require_utf8

RELAY_CURSOR = "relay"  # the relay's row in the store's cursor table

_events = sa.table(
    "events",
    sa.column("position", sa.BigInteger()),
    sa.column("recorded_at", sa.DateTime(timezone=True)),
)
_cursors = sa.table("cursors", sa.column("name", sa.String()), sa.column("position", sa.BigInteger()))
_dead_letters = sa.table(
    "dead_letters",
    sa.column("id", sa.BigInteger()),
    sa.column("position", sa.BigInteger()),
    sa.column("type", sa.Text()),
    sa.column("reason", sa.Text()),
    sa.column("attempts", sa.Integer()),
    sa.column("last_failed_at", sa.DateTime(timezone=True)),
)


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """One dead letter, as the status page lists it."""

    id: int
    position: int | None
    type: str | None
    reason: str
    attempts: int
    last_failed_at: str


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """What the status page shows from the store beside its head."""

    relay_position: int | None
    dead_letters: int
    recent_dead_letters: tuple[DeadLetterRow, ...]


class StoreProbe(Protocol):
    """The store as the API may see it: read-only, and optional."""

    def head(self) -> int:
        """The highest position stored (0 when empty)."""
        ...

    def recorded_after(self, position: int) -> datetime | None:
        """When the first event after `position` was recorded (None when there is none)."""
        ...

    def figures(self, dead_letter_limit: int) -> StoreFigures:
        """The relay's position and the dead letters (the newest `dead_letter_limit` of them)."""
        ...


class SqlStoreProbe:
    """A StoreProbe over the store's SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def head(self) -> int:
        statement = sa.select(sa.func.coalesce(sa.func.max(_events.c.position), 0))
        with self._connection() as conn:
            return int(conn.execute(statement).scalar_one())

    def recorded_after(self, position: int) -> datetime | None:
        statement = (
            sa.select(_events.c.recorded_at)
            .where(_events.c.position > position)
            .order_by(_events.c.position)
            .limit(1)
        )
        with self._connection() as conn:
            value = conn.execute(statement).scalar_one_or_none()
        return None if value is None else _aware(value)

    def figures(self, dead_letter_limit: int) -> StoreFigures:
        with self._connection() as conn:
            relay = conn.execute(
                sa.select(_cursors.c.position).where(_cursors.c.name == RELAY_CURSOR)
            ).scalar_one_or_none()
        count, rows = self._dead_letters(dead_letter_limit)
        return StoreFigures(
            relay_position=None if relay is None else int(relay),
            dead_letters=count,
            recent_dead_letters=rows,
        )

    def _dead_letters(self, limit: int) -> tuple[int, tuple[DeadLetterRow, ...]]:
        listing = sa.select(_dead_letters).order_by(_dead_letters.c.id.desc()).limit(limit)
        with self._connection() as conn:
            count = int(conn.execute(sa.select(sa.func.count()).select_from(_dead_letters)).scalar_one())
            rows = tuple(
                DeadLetterRow(
                    id=int(row.id),
                    position=row.position,
                    type=row.type,
                    reason=row.reason,
                    attempts=int(row.attempts),
                    last_failed_at=_aware(row.last_failed_at).isoformat(),
                )
                for row in conn.execute(listing)
            )
        return count, rows

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise StoreUnavailableError(f"the event store could not be read: {exc}") from exc


def sql_store_probe(database_url: str) -> SqlStoreProbe:
    """A probe with an engine of its own: one pooled connection is plenty for it."""
    engine = sa.create_engine(database_url, pool_size=1, max_overflow=1, pool_pre_ping=True)
    return SqlStoreProbe(require_utf8(engine))


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite without a declared column type hands back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
