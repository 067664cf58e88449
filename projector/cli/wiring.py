"""Building the clients a command needs from settings: the CLI's composition helpers."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from shared.settings import Settings

if TYPE_CHECKING:
    from projector.store import EventStore


def listening_on(settings: Settings, args: Any) -> Settings:
    """The settings with the command's --host and --port in place of READMODEL_HOST and _PORT."""
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    return dataclasses.replace(settings, host=host, port=port)


def open_store(settings: Settings, *, migrate_schema: bool = True) -> EventStore:
    """The event store, its schema brought up to date (unless told not to); close it, or use `with`."""
    from projector.migrations import migrate  # alembic is slow to import: only when needed
    from projector.store import EventStore, create_engine_for

    engine = create_engine_for(settings.database_url)
    if migrate_schema:
        migrate(engine)
    return EventStore(engine)


def open_redis(settings: Settings, *, command: str) -> Any:
    """A client of the configured Redis; the embedded stand-in only inside `readmodel up`."""
    settings.require_shared_redis(command)
    return connect_redis(settings.redis_url)


def connect_redis(url: str) -> Any:
    """A client of a real Redis at `url`."""
    from shared.readmodel.connection import connect

    return connect(url)


def embedded_redis() -> Any:
    """An in-process Redis stand-in (fakeredis with Lua) for the single-process default."""
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())
