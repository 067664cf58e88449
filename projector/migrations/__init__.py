"""The store schema's alembic migrations, run from code: `migrate(engine)`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from projector.store.engine import WRITE_LOCK
from projector.store.errors import translated_errors

_HERE = Path(__file__).resolve().parent
# Serialises concurrent `migrate` runs (several processes starting at once) on PostgreSQL.
_ADVISORY_LOCK_KEY = 0x7265_6164_6D6F_6465


def alembic_config() -> Config:
    """An alembic configuration pointing at this package, with no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    return config


def head_revision() -> str:
    """The newest revision the migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None before the first migration."""
    with translated_errors(), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> str:
    """Create or upgrade the store schema to the newest revision and return that revision."""
    config = alembic_config()
    with translated_errors(), engine.connect() as connection:
        connection.execution_options(**{WRITE_LOCK: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            revision = _revision(connection)
    assert revision is not None
    return revision


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
