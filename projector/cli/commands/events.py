"""`readmodel events append FILE|-`: append a JSON Lines file of events, all or nothing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from projector.cli.commands import Subparsers
from projector.cli.wiring import open_store
from shared.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("events", help="work with the event store's events")
    actions = parser.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    append = actions.add_parser(
        "append",
        help="append a JSON Lines file of events (checked first; nothing is written on any error)",
    )
    append.add_argument("file", metavar="FILE", help="a .jsonl file, or - for standard input")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    actions: dict[str, Callable[[argparse.Namespace, Settings], int]] = {"append": append}
    return actions[args.events_command](args, settings)


def append(args: argparse.Namespace, settings: Settings) -> int:
    """Check every line, then append the whole file in one transaction."""
    from projector.store.jsonl import check_lines

    with open_store(settings) as store:
        try:
            with _source(args.file) as stream:
                checked = check_lines(stream, store)
        except OSError as error:
            print(f"readmodel: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
            return 2
        if checked.problems:
            for problem in checked.problems:
                print(f"line {problem.line}: {problem.message}", file=sys.stderr)
            return 2
        result = store.append(checked.events)
    print(f"appended {result.new} new, {result.duplicates} duplicates")
    return 0


@contextmanager
def _source(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with open(name, "rb") as handle:
        yield handle
