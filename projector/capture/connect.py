"""The engine for a Dify database URL (PostgreSQL only: the capture relies on its snapshots)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.errors import ConfigurationError


def dify_engine(url: str) -> Engine:
    """An engine on the Dify database; `postgres://` and `postgresql://` get the psycopg driver."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain) :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"--dify-database-url: malformed URL ({exc})") from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"--dify-database-url: the capture needs PostgreSQL, got {parsed.get_backend_name()!r}",
        )
    return sa.create_engine(parsed, pool_pre_ping=True)
