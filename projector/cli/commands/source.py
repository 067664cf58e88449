"""`readmodel source`: capture a Dify PostgreSQL database into the event store.

readmodel source install   --dify-database-url URL   change table + triggers in Dify
readmodel source snapshot  --dify-database-url URL   events for the data already there
readmodel source run       --dify-database-url URL   follow the changes (--once: drain, exit)
readmodel source uninstall --dify-database-url URL   remove all of it from Dify
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from projector.cli.commands import Subparsers, positive_int, positive_seconds
from shared.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

HELP = {
    "install": "install the change table and triggers in the Dify database (idempotent)",
    "uninstall": "remove the change table, triggers and function from the Dify database",
    "snapshot": "append events for the data Dify already holds; `run` continues from there",
    "run": "append events for Dify's changes as their transactions settle",
}


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "source",
        help="capture a Dify PostgreSQL database into the event store",
        description="Capture changes in a Dify PostgreSQL database as contract events (see docs/capture.md).",
    )
    actions = parser.add_subparsers(dest="source_action", metavar="ACTION", required=True)
    for action, text in HELP.items():
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("--dify-database-url", required=True, metavar="URL", help="Dify's PostgreSQL URL")
        sub.add_argument("--schema", default="public", help="the schema of Dify's tables (default: public)")
        if action in ("snapshot", "run"):
            sub.add_argument(
                "--batch-size",
                type=positive_int,
                default=500,
                metavar="N",
                help="rows per batch (default: 500)",
            )
        if action == "run":
            sub.add_argument("--once", action="store_true", help="capture what has settled, then exit")
            sub.add_argument(
                "--poll-seconds",
                type=positive_seconds,
                default=1.0,
                metavar="S",
                help="longest wait when idle (default: 1); a commit in Dify wakes the capture sooner",
            )
            sub.add_argument(
                "--no-listen",
                action="store_true",
                help="only poll: do not LISTEN for the triggers' commit notifications",
            )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from projector.capture.connect import dify_engine

    dify = dify_engine(args.dify_database_url)
    try:
        if args.source_action == "install":
            return _install(dify, args.schema)
        if args.source_action == "uninstall":
            return _uninstall(dify, args.schema)
        return _capture(dify, args, settings)
    finally:
        dify.dispose()


def _install(dify: Engine, schema: str) -> int:
    from projector.capture import install

    report = install(dify, schema=schema)
    _say(f"installed the capture on {len(report.captured)} tables in schema {report.schema}")
    if report.missing:
        _say(f"warning: not captured, no such table: {', '.join(report.missing)}")
    return 0


def _uninstall(dify: Engine, schema: str) -> int:
    from projector.capture import uninstall

    uninstall(dify, schema=schema)
    _say(f"removed the capture from schema {schema}")
    return 0


def _capture(dify: Engine, args: argparse.Namespace, settings: Settings) -> int:
    from projector.capture import CaptureRunner, Snapshotter
    from projector.cli.signals import Shutdown
    from projector.cli.wiring import open_store

    store = open_store(settings)
    try:
        if args.source_action == "snapshot":
            Snapshotter(dify, store, schema=args.schema, batch_size=args.batch_size, progress=_say).take()
            return 0
        runner = CaptureRunner(dify, store, schema=args.schema, batch_size=args.batch_size, progress=_say)
        if args.once:
            total = runner.run_until_idle()
        else:
            from projector.capture.wakeup import CommitNotifications, Poll

            # Finish the batch in hand, then stop: the cursor is saved after every batch anyway.
            shutdown = Shutdown()
            wakeups = Poll() if args.no_listen else CommitNotifications(dify, schema=args.schema)
            _say("capture: following the change feed (Ctrl-C to stop)")
            with shutdown.handling_signals():
                total = runner.run_forever(
                    shutdown.requested, poll_seconds=args.poll_seconds, wakeups=wakeups
                )
        _say(f"capture: {total.changes} changes -> {total.events} events in {total.batches} batches")
        return 0
    finally:
        store.engine.dispose()


def _say(line: str) -> None:
    # Progress goes to stderr, as for every long-running command.
    print(line, file=sys.stderr, flush=True)
