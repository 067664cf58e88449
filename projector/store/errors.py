"""Translation of database driver errors into the project's store errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from shared.errors import StoreError, StoreUnavailableError

# SQLSTATEs after which the same transaction is worth running again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_UNDEFINED_TABLE = "42P01"


def sqlstate(error: sa_exc.DBAPIError) -> str | None:
    """The SQLSTATE of a PostgreSQL error (None for SQLite and non-server errors)."""
    code = getattr(error.orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def translate(error: sa_exc.DBAPIError) -> StoreError:
    """The store error a driver error stands for."""
    detail = _first_line(error.orig)
    if sqlstate(error) == _UNDEFINED_TABLE or "no such table" in detail:
        return StoreError("the event store has no schema yet; run `readmodel migrate`")
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) or error.connection_invalidated:
        return StoreUnavailableError(f"the event store is unavailable: {detail}")
    return StoreError(f"the event store failed: {detail}")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Raise driver errors (other than integrity errors, which callers classify) as StoreErrors."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except sa_exc.DBAPIError as error:
        raise translate(error) from error


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__
