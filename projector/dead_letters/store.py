"""The dead-letter table, beside the events in the store's database (durable, seen by every
process; created by the store's migrations).

The events themselves stay in the store: a dead letter records the position and the
reason, and only a body that never decoded into an event is kept verbatim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from projector.dead_letters.records import DeadLetter, RecordedDeadLetter
from projector.store.engine import WRITE_LOCK
from projector.store.errors import translated_errors

metadata = sa.MetaData()

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.Identity(),
        primary_key=True,
    ),
    sa.Column("key", sa.String(100), nullable=False, unique=True),
    sa.Column("position", sa.BigInteger, nullable=True),
    sa.Column("event_id", sa.Text, nullable=True),
    sa.Column("stream", sa.Text, nullable=True),
    sa.Column("type", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeadLetterStore:
    """Records, lists and removes dead letters in the event store's database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"

    def record(self, letters: Sequence[DeadLetter], *, count_attempts: bool = True) -> None:
        """Insert dead letters, or update the reason (and add the attempts) of known ones.

        With `count_attempts=False` a letter already recorded is left as it is.
        """
        if not letters:
            return
        now = self._clock()
        merged: dict[str, dict[str, Any]] = {}
        for letter in letters:
            row = merged.get(letter.key)
            if row is not None:  # the same event twice in one call (redelivered in the batch)
                row["attempts"] += letter.attempts
                row["reason"] = letter.reason
                continue
            merged[letter.key] = {
                "key": letter.key,
                "position": letter.position,
                "event_id": letter.event_id,
                "stream": letter.stream,
                "type": letter.type,
                "reason": letter.reason,
                "attempts": letter.attempts,
                "body": letter.body,
                "first_failed_at": now,
                "last_failed_at": now,
            }
        insert = (postgresql.insert if self._postgres else sqlite.insert)(dead_letters)
        if count_attempts:
            statement = insert.on_conflict_do_update(
                index_elements=[dead_letters.c.key],
                set_={
                    "reason": insert.excluded.reason,
                    "attempts": dead_letters.c.attempts + insert.excluded.attempts,
                    "last_failed_at": insert.excluded.last_failed_at,
                },
            )
        else:
            statement = insert.on_conflict_do_nothing(index_elements=[dead_letters.c.key])
        self._write(statement, list(merged.values()))

    def read(self, ids: Sequence[int] | None = None, *, limit: int | None = None) -> list[RecordedDeadLetter]:
        """Dead letters in position order (bodies without one last), optionally only `ids`."""
        statement = sa.select(dead_letters).order_by(
            dead_letters.c.position.is_(None), dead_letters.c.position, dead_letters.c.id
        )
        if ids is not None:
            statement = statement.where(dead_letters.c.id.in_(list(ids)))
        if limit is not None:
            statement = statement.limit(limit)
        with translated_errors(), self._engine.connect() as conn:
            return [_to_record(row) for row in conn.execute(statement)]

    def positions_after(self, position: int, limit: int) -> list[int]:
        """The store positions of up to `limit` dead letters after `position`, in order."""
        statement = (
            sa.select(dead_letters.c.position)
            .where(dead_letters.c.position > position)
            .order_by(dead_letters.c.position)
            .limit(limit)
        )
        with translated_errors(), self._engine.connect() as conn:
            return [int(row[0]) for row in conn.execute(statement)]

    def count(self) -> int:
        """How many dead letters there are."""
        with translated_errors(), self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar_one())

    def remove(self, ids: Sequence[int]) -> int:
        """Delete the dead letters `ids` (their events are settled); returns how many went."""
        if not ids:
            return 0
        result = self._write(dead_letters.delete().where(dead_letters.c.id.in_(list(ids))))
        return result.rowcount

    def _write(self, statement: sa.Executable, parameters: list[dict[str, Any]] | None = None) -> Any:
        with translated_errors(), self._engine.connect() as conn:
            conn.execution_options(**{WRITE_LOCK: True})
            with conn.begin():
                return conn.execute(statement, parameters) if parameters else conn.execute(statement)


def _to_record(row: Any) -> RecordedDeadLetter:
    return RecordedDeadLetter(
        id=row.id,
        reason=row.reason,
        position=row.position,
        event_id=row.event_id,
        stream=row.stream,
        type=row.type,
        attempts=row.attempts,
        body=None if row.body is None else bytes(row.body),
        first_failed_at=_aware(row.first_failed_at),
        last_failed_at=_aware(row.last_failed_at),
    )


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back without a zone; they are written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
