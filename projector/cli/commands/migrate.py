"""`readmodel migrate`: create or upgrade the event store schema."""

from __future__ import annotations

import argparse

from projector.cli.commands import Subparsers
from shared.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the event store schema")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from projector.migrations import migrate
    from projector.store import create_engine_for

    engine = create_engine_for(settings.database_url)
    try:
        revision = migrate(engine)
    finally:
        engine.dispose()
    print(f"event store schema at revision {revision}")
    return 0
