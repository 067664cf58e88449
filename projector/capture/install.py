"""Installs and removes the change table and triggers in the Dify database.

Every change to a watched row is written, by a plain-SQL trigger, into `readmodel_changes` in
the same transaction as the change itself (a transactional outbox): if Dify's transaction
rolls back, so does the change row. It needs DDL rights only: no logical decoding, no
`wal_level` change, no extension.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from projector.capture.tables import WATCHED_TABLES, WatchedTable, schema_name
from projector.capture.wakeup import CHANNEL
from shared.errors import ConfigurationError

CHANGES_TABLE = "readmodel_changes"
SNAPSHOT_TABLE = "readmodel_snapshot"
FUNCTION = "readmodel_capture_change"
TRIGGER_PREFIX = "readmodel_capture"
OPERATIONS = ("insert", "update", "delete")
# xid8 and pg_current_xact_id() arrived in PostgreSQL 13.
MIN_SERVER_VERSION = 130000


@dataclass(frozen=True, slots=True)
class InstallReport:
    """What `install` set up: the tables now captured and the ones the database lacks."""

    schema: str
    captured: tuple[str, ...]
    missing: tuple[str, ...]


def install(engine: Engine, *, schema: str = "public") -> InstallReport:
    """Create (or refresh) the change table, the trigger function and every trigger; idempotent."""
    s = schema_name(schema)
    with engine.begin() as conn:
        version = conn.execute(text("SELECT current_setting('server_version_num')::int")).scalar_one()
        if version < MIN_SERVER_VERSION:
            raise ConfigurationError(
                f"--dify-database-url: PostgreSQL {version} is too old; the capture needs 13 or newer",
            )
        for statement in _base_ddl(s):
            conn.execute(text(statement))
        captured: list[str] = []
        missing: list[str] = []
        for table in WATCHED_TABLES:
            if not _table_exists(conn, s, table.name):
                missing.append(table.name)
                continue
            for statement in _trigger_ddl(s, table):
                conn.execute(text(statement))
            captured.append(table.name)
    return InstallReport(schema=schema, captured=tuple(captured), missing=tuple(missing))


def uninstall(engine: Engine, *, schema: str = "public") -> None:
    """Drop every trigger, the function and the capture's tables (unread changes are lost)."""
    s = schema_name(schema)
    with engine.begin() as conn:
        for table in WATCHED_TABLES:
            if _table_exists(conn, s, table.name):
                for op in OPERATIONS:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}_{op} ON {s}.{table.name}"))
        conn.execute(text(f"DROP FUNCTION IF EXISTS {s}.{FUNCTION}()"))
        conn.execute(text(f"DROP TABLE IF EXISTS {s}.{CHANGES_TABLE}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {s}.{SNAPSHOT_TABLE}"))


def installed_tables(engine: Engine, *, schema: str = "public") -> tuple[str, ...]:
    """The watched tables that currently carry the capture's triggers."""
    s = schema_name(schema)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND t.tgname LIKE :prefix ORDER BY c.relname",
            ),
            {"schema": s, "prefix": f"{TRIGGER_PREFIX}_%"},
        ).scalars()
        return tuple(rows)


def _table_exists(conn: Connection, schema: str, table: str) -> bool:
    found = conn.execute(text("SELECT to_regclass(:name)"), {"name": f"{schema}.{table}"}).scalar()
    return found is not None


def _base_ddl(s: str) -> list[str]:
    return [
        f"""
        CREATE TABLE IF NOT EXISTS {s}.{CHANGES_TABLE} (
            id bigserial PRIMARY KEY,
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            table_name text NOT NULL,
            op text NOT NULL,
            row_id text,
            old_row jsonb,
            new_row jsonb,
            captured_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_txid_id ON {s}.{CHANGES_TABLE} (txid, id)",
        f"""
        CREATE TABLE IF NOT EXISTS {s}.{SNAPSHOT_TABLE} (
            name text PRIMARY KEY,
            state text NOT NULL,
            snapshot pg_snapshot,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """,
        # The trigger's arguments name the columns to keep: a change row carries only what the
        # read model needs (never a password hash), and an update that touches none of those
        # columns (Dify bumps last_active_at on every request) records nothing.
        f"""
        CREATE OR REPLACE FUNCTION {s}.{FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $capture$
        DECLARE
            v_old jsonb;
            v_new jsonb;
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                SELECT jsonb_object_agg(key, value) INTO v_old
                FROM jsonb_each(to_jsonb(OLD)) WHERE key = ANY (TG_ARGV);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                SELECT jsonb_object_agg(key, value) INTO v_new
                FROM jsonb_each(to_jsonb(NEW)) WHERE key = ANY (TG_ARGV);
            END IF;
            IF TG_OP = 'UPDATE' AND v_old = v_new THEN
                RETURN NULL;
            END IF;
            INSERT INTO {s}.{CHANGES_TABLE} (table_name, op, row_id, old_row, new_row)
            VALUES (TG_TABLE_NAME, TG_OP, COALESCE(v_new, v_old) ->> 'id', v_old, v_new);
            -- Wakes a waiting `source run` at commit (PostgreSQL sends one per transaction).
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_SCHEMA);
            RETURN NULL;
        END
        $capture$
        """,  # noqa: S608
    ]


def _trigger_ddl(s: str, table: WatchedTable) -> list[str]:
    args = ", ".join(f"'{column}'" for column in table.columns)
    statements: list[str] = []
    for op in OPERATIONS:
        name = f"{TRIGGER_PREFIX}_{op}"
        when = ""
        if table.only_rows:
            sides = {"insert": ("NEW",), "update": ("OLD", "NEW"), "delete": ("OLD",)}[op]
            when = " WHEN (" + " OR ".join(f"({table.only_rows.format(row=row)})" for row in sides) + ")"
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {s}.{table.name}")
        statements.append(
            f"CREATE TRIGGER {name} AFTER {op.upper()} ON {s}.{table.name} "
            f"FOR EACH ROW{when} EXECUTE FUNCTION {s}.{FUNCTION}({args})",
        )
    return statements
