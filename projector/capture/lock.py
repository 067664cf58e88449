"""One capture process per Dify database, enforced with a PostgreSQL advisory lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shared.errors import ReadModelError

# "rmcaptur" in ASCII: a key no other user of the Dify database is likely to pick.
LOCK_KEY = 0x726D_6361_7074_7572


class CaptureBusyError(ReadModelError):
    """Another `source run` or `source snapshot` holds the capture of this Dify database."""


@contextmanager
def capture_lock(engine: Engine) -> Iterator[None]:
    """Hold the capture's advisory lock for the duration of the block, or fail at once.

    Two readers of the same change feed would append the same batch with different
    versions; the lock makes the second one stop with a clear message instead.
    """
    with engine.connect() as conn:
        taken = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar_one()
        conn.commit()
        if not taken:
            raise CaptureBusyError(
                "another `readmodel source run` or `source snapshot` is capturing this Dify database",
            )
        try:
            yield
        finally:
            # A lost connection has released the lock already; do not hide the real error.
            with suppress(DBAPIError):
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                conn.commit()
