"""Create a fresh PostgreSQL database in Dify's shape and load the seeded history's final state.

    uv run --group bench python -m bench.dify_reference.load --replace [--database NAME]

The history is `projector.seed`'s (same workspaces, apps and seed give the same ids, names
and tokens as `readmodel seed`), so one token works against both servers. Standard output
gets two lines, `WORKSPACE_ID=…` and `TOKEN=…`: the first workspace and the plaintext
token of its owner's live session (the workspace and token `bench/api` uses). Progress
goes to standard error.

    uv run --group bench python -m bench.dify_reference.load --drop   # remove the database
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import URL, make_url

from bench.dify_reference.models import Base
from bench.dify_reference.rows import DifyRows, Row, fold_rows
from projector.seed import demo_history

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "readmodel_bench_dify"
# Database names go into CREATE/DROP DATABASE unquoted: keep them to plain identifiers.
DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
INSERT_BATCH = 2000


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, then (re)create and load the database, or drop it."""
    parser = argparse.ArgumentParser(prog="python -m bench.dify_reference.load", description=__doc__)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="URL of the maintenance database")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="name of the database to create")
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--apps", type=int, default=100, help="apps per workspace")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replace", action="store_true", help="drop the database first if it exists")
    parser.add_argument("--drop", action="store_true", help="only drop the database, then stop")
    args = parser.parse_args(argv)
    if not DATABASE_NAME.match(args.database):
        parser.error(f"--database must match {DATABASE_NAME.pattern}")
    server = make_url(args.server)

    if args.drop:
        dropped = drop_database(server, args.database)
        print(f"{'dropped' if dropped else 'no database'} {args.database}", file=sys.stderr)
        return 0
    if database_exists(server, args.database) and not args.replace:
        print(f"database {args.database} exists; pass --replace to recreate it", file=sys.stderr)
        return 1

    started = time.monotonic()
    history = demo_history(args.seed, workspaces=args.workspaces, apps=args.apps)
    rows = fold_rows(history.events)
    drop_database(server, args.database)
    create_database(server, args.database)
    engine = create_engine(server.set(database=args.database))
    try:
        load(engine, rows)
    finally:
        engine.dispose()
    counts = ", ".join(f"{len(table_rows)} {model.__tablename__}" for model, table_rows in rows.tables())
    print(f"loaded {args.database} in {time.monotonic() - started:.1f} s: {counts}", file=sys.stderr)
    print(f"WORKSPACE_ID={history.workspace_id}")
    print(f"TOKEN={history.token}")
    return 0


def database_exists(server: URL, name: str) -> bool:
    engine = create_engine(server)
    try:
        with engine.connect() as connection:
            found = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
    finally:
        engine.dispose()
    return found is not None


def create_database(server: URL, name: str) -> None:
    _maintenance(server, f"CREATE DATABASE {name}")


def drop_database(server: URL, name: str) -> bool:
    """Drop `name` if it exists (closing its connections); True when there was one."""
    existed = database_exists(server, name)
    if existed:
        _maintenance(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return existed


def load(engine: Engine, rows: DifyRows) -> None:
    """Create the schema, insert every table's rows, then refresh the planner's statistics."""
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for model, table_rows in rows.tables():
            uniform = _uniform(table_rows)
            for start in range(0, len(uniform), INSERT_BATCH):
                connection.execute(insert(model), uniform[start : start + INSERT_BATCH])
    # A long-running Dify database has statistics; a fresh one gets them now.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def _uniform(rows: list[Row]) -> list[Row]:
    """Give every row the same keys: an executemany takes one column list."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{column: row.get(column) for column in columns} for row in rows]


def _maintenance(server: URL, statement: str) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction block.
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
