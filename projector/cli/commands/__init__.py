"""The subcommands, one module each; what they share is here."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from projector.store import EventStore
    from shared.settings import Settings

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@contextmanager
def open_store(settings: Settings, *, migrate_schema: bool = True) -> Iterator[EventStore]:
    """The event store named by the settings (schema brought up to date), disposed afterwards."""
    from projector.migrations import migrate
    from projector.store import EventStore, create_engine_for

    engine = create_engine_for(settings.database_url)
    try:
        if migrate_schema:
            # Idempotent and quick once done: a fresh store works without a separate `migrate`.
            migrate(engine)
        yield EventStore(engine)
    finally:
        engine.dispose()


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer ≥ 0."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {value}")
    return value
