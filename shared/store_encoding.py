"""The event store holds JSON text: a PostgreSQL database not encoded in UTF-8 is refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from shared.errors import StoreError

UTF8 = "UTF8"  # PostgreSQL's name for it


def require_utf8(engine: Engine) -> Engine:
    """Make every new connection of a PostgreSQL engine refuse a database not in UTF-8.

    SQL_ASCII stores bytes unchecked and hands them back undecoded, which SQLAlchemy's first
    query trips over (a TypeError deep in the dialect); another encoding cannot hold every
    name or description an event carries. The check runs before SQLAlchemy's own first use
    of the connection, so the error is the first thing the caller sees.
    """
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _refuse_other_encodings, insert=True)
    return engine


def _refuse_other_encodings(dbapi_connection: Any, _record: Any) -> None:
    encoding = dbapi_connection.info.parameter_status("server_encoding")
    if encoding != UTF8:
        dbapi_connection.close()
        raise StoreError(
            f"the event store's database is encoded {encoding}, not UTF8; create it with "
            "ENCODING 'UTF8' (e.g. createdb -E UTF8 -T template0 NAME)"
        )
