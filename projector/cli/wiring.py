"""Building the clients a command needs from settings: the CLI's composition helpers."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigurationError, ReadModelError
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
    """A client of the configured Redis, which answered a PING; the embedded stand-in only
    inside `readmodel up`. An unreachable Redis is one line naming it (ConfigurationError)."""
    from shared.readmodel.connection import check_reachable

    settings.require_shared_redis(command)
    client = connect_redis(settings)
    try:
        check_reachable(client)
    except ReadModelError as error:
        raise ConfigurationError(f"READMODEL_REDIS_URL: {redis_name(settings)}: {error}") from None
    return client


def connect_redis(settings: Settings) -> Any:
    """A client of the real Redis the settings name (a cluster's must answer at once)."""
    from shared.readmodel.connection import connect

    try:
        return connect(settings.redis_url)
    except ReadModelError as error:
        raise ConfigurationError(f"READMODEL_REDIS_URL: {redis_name(settings)}: {error}") from None


def redis_name(settings: Settings) -> str:
    """The Redis URL as it may be shown (no password)."""
    return str(settings.redacted()["redis_url"])


def embedded_redis() -> Any:
    """An in-process Redis stand-in (fakeredis with Lua) for the single-process default."""
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def check_port(host: str, port: int) -> None:
    """Raise ConfigurationError at once when nothing could listen on host:port (a busy port),
    before a server that would find out later, or less clearly, is started."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no bar
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigurationError(f"READMODEL_PORT: cannot listen on {host}:{port} ({reason})") from None
