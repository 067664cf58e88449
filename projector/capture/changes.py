"""Reading settled rows of the change table, and forgetting the consumed ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, TextClause, text

from projector.capture.install import CHANGES_TABLE, SNAPSHOT_TABLE
from projector.capture.tables import schema_name
from shared.errors import ReadModelError

INSERT = "INSERT"
UPDATE = "UPDATE"
DELETE = "DELETE"

SNAPSHOT_NAME = "capture"
SNAPSHOT_STARTED = "started"
SNAPSHOT_DONE = "done"


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded row change: which table, what it did, the row before and after."""

    id: int
    txid: int
    table: str
    op: str
    row_id: str | None
    old: dict[str, Any] | None = field(hash=False)
    new: dict[str, Any] | None = field(hash=False)
    captured_at: datetime

    @property
    def row(self) -> dict[str, Any]:
        """The row as it is after the change (as it was, for a delete)."""
        row = self.new if self.new is not None else self.old
        return row or {}

    def changed(self, column: str) -> bool:
        """Whether an update changed `column` (inserts and deletes change everything)."""
        if self.old is None or self.new is None:
            return True
        return self.old.get(column) != self.new.get(column)


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """How far the change feed has been consumed: `(txid, change id)`, both exclusive."""

    txid: int = 0
    change_id: int = 0


class SnapshotInProgressError(ReadModelError):
    """A snapshot was started and has not finished: the change feed must wait for it."""


_READ_SETTLED = """
    SELECT c.id, c.txid::text AS txid, c.table_name, c.op, c.row_id,
           c.old_row, c.new_row, c.captured_at
    FROM {changes} c
    WHERE (c.txid, c.id) > (CAST(:txid AS xid8), :change_id)
      AND c.txid < pg_snapshot_xmin(pg_current_snapshot())
      AND NOT EXISTS (
          SELECT 1 FROM {snapshots} s
          WHERE s.snapshot IS NOT NULL AND pg_visible_in_snapshot(c.txid, s.snapshot)
      )
    ORDER BY c.txid, c.id
    LIMIT :limit
"""
_PRUNE = "DELETE FROM {changes} WHERE (txid, id) <= (CAST(:txid AS xid8), :change_id)"
_PENDING = """
    SELECT count(*) FROM {changes} c
    WHERE (c.txid, c.id) > (CAST(:txid AS xid8), :change_id)
      AND NOT EXISTS (
          SELECT 1 FROM {snapshots} s
          WHERE s.snapshot IS NOT NULL AND pg_visible_in_snapshot(c.txid, s.snapshot)
      )
"""
_SNAPSHOT_STATE = "SELECT state FROM {snapshots} WHERE name = :name"
_SNAPSHOT_START = "INSERT INTO {snapshots} (name, state) VALUES (:name, :state)"
_SNAPSHOT_CLEAR = "DELETE FROM {snapshots} WHERE name = :name"
_SNAPSHOT_DONE = (
    "UPDATE {snapshots} SET state = :state, snapshot = CAST(:snapshot AS pg_snapshot), "
    "finished_at = now() WHERE name = :name"
)


class ChangeFeed:
    """Reads the change table of one schema; every method runs on a connection it is given."""

    def __init__(self, schema: str = "public") -> None:
        s = schema_name(schema)
        names = {"changes": f"{s}.{CHANGES_TABLE}", "snapshots": f"{s}.{SNAPSHOT_TABLE}"}

        def sql(template: str) -> TextClause:
            return text(template.format(**names))

        self._read_settled = sql(_READ_SETTLED)
        self._prune = sql(_PRUNE)
        self._pending = sql(_PENDING)
        self._snapshot_state = sql(_SNAPSHOT_STATE)
        self._snapshot_start = sql(_SNAPSHOT_START)
        self._snapshot_clear = sql(_SNAPSHOT_CLEAR)
        self._snapshot_done = sql(_SNAPSHOT_DONE)

    def read_settled(self, conn: Connection, after: FeedPosition, limit: int) -> list[Change]:
        """Up to `limit` changes after `after` whose transactions can no longer commit late.

        A change row gets its id when inserted but becomes visible when its transaction
        commits, so reading "id > last" would skip a long transaction that commits after a
        shorter one. Ordering by (txid, id) and taking only transactions older than the oldest
        one still running (`pg_snapshot_xmin`) means nothing can later appear behind the cursor.
        Changes already contained in a finished snapshot are left out.
        """
        if self.snapshot_state(conn) == SNAPSHOT_STARTED:
            raise SnapshotInProgressError(
                "a snapshot was started and has not finished; wait for it (or, if it was "
                "interrupted, start again from an empty event store)",
            )
        rows = conn.execute(
            self._read_settled,
            {"txid": str(after.txid), "change_id": after.change_id, "limit": limit},
        ).mappings()
        return [
            Change(
                id=row["id"],
                txid=int(row["txid"]),
                table=row["table_name"],
                op=row["op"],
                row_id=row["row_id"],
                old=row["old_row"],
                new=row["new_row"],
                captured_at=row["captured_at"],
            )
            for row in rows
        ]

    def prune(self, conn: Connection, upto: FeedPosition) -> int:
        """Delete the consumed changes at or before `upto`; returns how many went."""
        result = conn.execute(self._prune, {"txid": str(upto.txid), "change_id": upto.change_id})
        return result.rowcount

    def pending(self, conn: Connection, after: FeedPosition) -> int:
        """How many recorded changes are still to be read after `after` (settled or not)."""
        params = {"txid": str(after.txid), "change_id": after.change_id}
        return conn.execute(self._pending, params).scalar_one()

    def snapshot_state(self, conn: Connection) -> str | None:
        """`started`, `done` or None when no snapshot was ever taken."""
        return conn.execute(self._snapshot_state, {"name": SNAPSHOT_NAME}).scalar()

    def mark_snapshot_started(self, conn: Connection) -> None:
        """Record that a snapshot began, so the feed waits for it."""
        conn.execute(self._snapshot_start, {"name": SNAPSHOT_NAME, "state": SNAPSHOT_STARTED})

    def clear_snapshot(self, conn: Connection) -> None:
        """Forget a snapshot that wrote nothing, so it can be taken again."""
        conn.execute(self._snapshot_clear, {"name": SNAPSHOT_NAME})

    def mark_snapshot_done(self, conn: Connection, snapshot: str) -> None:
        """Record the finished snapshot: changes visible in it are skipped from now on."""
        conn.execute(
            self._snapshot_done,
            {"name": SNAPSHOT_NAME, "state": SNAPSHOT_DONE, "snapshot": snapshot},
        )
