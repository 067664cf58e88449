"""The one place that turns a database URL into a configured SQLAlchemy engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from shared.store_encoding import require_utf8

# An execution option asking for SQLite's write lock when the transaction begins.
WRITE_LOCK = "readmodel_write_lock"
BUSY_TIMEOUT_MS = 30_000


def create_engine_for(url: str) -> Engine:
    """Build the engine for a store URL: SQLite (WAL, busy timeout) or PostgreSQL (pre-ping, UTF-8)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return require_utf8(sa.create_engine(parsed, pool_pre_ping=True))
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 driver's own transaction handling skips BEGIN before SELECT, so a
    # read-then-write append would not be one transaction; the begin hook takes over.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    # Writers take the lock up front: a deferred transaction that reads and then writes
    # fails at once (SQLITE_BUSY) when another writer got in between, instead of waiting.
    immediate = conn.get_execution_options().get(WRITE_LOCK, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
