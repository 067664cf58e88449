"""`readmodel dlq`: list the dead letters, or replay them after a fix.

Registering this command also adds the dead-letter count to `readmodel status`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import orjson

from projector.cli.commands import Subparsers, positive_int
from shared.settings import Settings

if TYPE_CHECKING:
    from projector.cli.commands.status import Section, StatusContext


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("dlq", help="list or replay the projector's dead letters")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show the dead letters with their reasons")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.add_argument("--limit", type=positive_int, metavar="N", help="show at most N")
    replaying = actions.add_parser(
        "replay",
        help="re-apply dead letters from the store, in position order, removing those that settle",
    )
    chosen = replaying.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", type=positive_int, action="append", dest="ids", metavar="N")
    chosen.add_argument("--all", action="store_true", help="replay every dead letter")
    for action in (listing, replaying):
        action.add_argument(
            "--names-suffix", metavar="SUFFIX", help="the suffix the broker's names were given, if any"
        )
    parser.set_defaults(func=run)

    from projector.cli.commands import status

    if dead_letters_section not in status.SECTIONS:
        status.SECTIONS.append(dead_letters_section)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "list":
        return _list(args, settings)
    return _replay(args, settings)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from projector.cli.wiring import open_store
    from projector.dead_letters import DeadLetterStore

    with open_store(settings) as store:
        letters = DeadLetterStore(store.engine)
        recorded = letters.read(limit=args.limit)
        total = letters.count() if recorded else 0
    waiting = _broker_queue_depth(settings, args.names_suffix)
    if args.json:
        body = {
            "count": total,
            "dead_letters": [letter.to_dict() for letter in recorded],
            "broker_queue": waiting,
        }
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"{total} dead letters")
    for letter in recorded:
        where = f"position {letter.position}" if letter.position is not None else "no position"
        what = " ".join(part for part in (letter.type, letter.stream, letter.event_id) if part)
        print(f"#{letter.id}  {where}  {what or '(undecodable body)'}")
        print(f"    {letter.reason}  (attempts {letter.attempts}, last {letter.last_failed_at.isoformat()})")
    if waiting:
        print(
            f"{waiting} more in the broker's dead-letter queue (`readmodel dlq replay --all` takes them in)"
        )
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from projector import wiring
    from projector.broker.connection import connect
    from projector.broker.consumer import drain_dead_letter_queue
    from projector.cli.wiring import open_redis, open_store
    from projector.dead_letters import DeadLetterStore, replay

    redis = open_redis(settings, command="dlq replay")
    store = open_store(settings)
    try:
        letters = DeadLetterStore(store.engine)
        if args.all and not settings.broker_url.startswith("memory"):
            connection = connect(settings.broker_url)
            try:
                names = wiring.topology(settings, args.names_suffix)
                moved = drain_dead_letter_queue(connection, names, letters)
            finally:
                connection.release()
            if moved:
                print(f"took {moved} messages in from the broker's dead-letter queue")
        # Every owner an event goes to: what each partition's projector would have applied.
        report = replay(letters, store, wiring.writer(redis, store), ids=None if args.all else args.ids)
    finally:
        store.engine.dispose()
    print(f"replayed: {report.settled} settled and removed, {report.failing} still failing")
    return 0 if report.failing == 0 else 1


def _broker_queue_depth(settings: Settings, suffix: str | None) -> int | None:
    if settings.broker_url.startswith("memory"):
        return None
    from projector import wiring
    from projector.broker.connection import connect
    from projector.broker.consumer import dead_letter_queue_depth

    connection = connect(settings.broker_url)
    try:
        return dead_letter_queue_depth(connection, wiring.topology(settings, suffix))
    finally:
        connection.release()


def dead_letters_section(context: StatusContext) -> Section:
    """The dead letters: how many there are, and the oldest reasons."""
    from projector.cli.commands.status import Section
    from projector.dead_letters import DeadLetterStore

    letters = DeadLetterStore(context.store.engine)
    count = letters.count()
    lines = [f"count: {count}"]
    lines.extend(
        f"  #{letter.id} position {letter.position}: {letter.reason}" for letter in letters.read(limit=3)
    )
    if count:
        lines.append("see `readmodel dlq list`; replay after a fix with `readmodel dlq replay --all`")
    return Section("dead_letters", {"count": count}, tuple(lines))
