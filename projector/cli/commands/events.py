"""`readmodel events append FILE|-`: append a JSON Lines file of events, all or nothing.

Two passes in bounded memory: the file is checked chunk by chunk (the lines seen so far are
indexed on disk), then, only if every line is good, its new events are appended from that
index in one transaction. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from projector.cli.commands import Subparsers
from projector.cli.wiring import open_store
from shared.settings import Settings

if TYPE_CHECKING:
    from projector.store.jsonl import FileCheck

_APPEND_BATCH = 2000  # events per insert inside the one transaction


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
    """Check every line (first pass), then append the new events in one transaction (second)."""
    from projector.cli.progress import ProgressLine
    from projector.store.file_index import FileIndex
    from projector.store.jsonl import check_file

    progress = ProgressLine(sys.stderr)
    with open_store(settings) as store, FileIndex() as index:
        try:
            with _source(args.file) as stream:
                size = _size(stream)
                check = check_file(
                    stream,
                    store,
                    index,
                    on_progress=lambda done: progress.show(_checking(args.file, done, size)),
                )
                progress.show(_checking(args.file, check, size), force=True)
        except OSError as error:
            progress.finish()
            print(f"readmodel: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
            return 2
        progress.finish()
        if check.not_text:
            print(f"readmodel: {args.file}: not a UTF-8 text file", file=sys.stderr)
            return 2
        if not check.clean:
            for problem in check.problems:
                print(f"line {problem.line}: {problem.message}", file=sys.stderr)
            if check.problem_count > len(check.problems):
                print(f"…and {check.problem_count - len(check.problems)} more bad lines", file=sys.stderr)
            return 2
        total = len(index)
        appended = 0

        def advanced(count: int) -> None:
            nonlocal appended
            appended += count
            progress.show(f"appending: {appended:,} of {total:,} events", force=appended == total)

        result = store.append_batches(lambda: index.batches(_APPEND_BATCH), on_batch=advanced)
        progress.finish()
    print(f"appended {result.new} new, {check.duplicates + result.duplicates} duplicates")
    return 0


def _checking(name: str, check: FileCheck, size: int | None) -> str:
    name = "standard input" if name == "-" else name
    read = f"{check.bytes_read / 1e6:,.1f}" + ("" if size is None else f" of {size / 1e6:,.1f}")
    return f"checking {name}: {read} MB, {check.lines:,} lines"


def _size(stream: BinaryIO) -> int | None:
    """The size of a regular file, None for a pipe or a terminal."""
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


@contextmanager
def _source(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with open(name, "rb") as handle:
        yield handle
