"""`readmodel seed`: a realistic, deterministic history, appended or written as JSON Lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, BinaryIO

from projector.cli.commands import Subparsers, non_negative_int, positive_int
from projector.cli.wiring import open_store
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.events import Event

# Appends go in slices so memory stays flat; a failed run is finished by running it again,
# since the same seed gives the same events and repeats count as duplicates.
APPEND_SLICE = 5000


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("seed", help="generate a realistic history (same seed, same events)")
    parser.add_argument("--workspaces", type=positive_int, required=True, metavar="N")
    parser.add_argument(
        "--apps", type=non_negative_int, required=True, metavar="M", help="apps per workspace"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="write JSON Lines to FILE (- for standard output) instead of appending to the store",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from projector.seed import generate_history

    history = generate_history(args.workspaces, args.apps, args.seed)
    if args.out == "-":
        count = _write(history, sys.stdout.buffer)
        print(f"wrote {count} events", file=sys.stderr)
        return 0
    if args.out is not None:
        try:
            with open(args.out, "wb") as handle:
                count = _write(history, handle)
        except OSError as error:
            print(f"readmodel: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
            return 2
        print(f"wrote {count} events to {args.out}")
        return 0
    new = duplicates = 0
    with open_store(settings) as store:
        while events := list(islice(history, APPEND_SLICE)):
            result = store.append(events)
            new, duplicates = new + result.new, duplicates + result.duplicates
    print(f"appended {new} new, {duplicates} duplicates")
    return 0


def _write(history: Iterator[Event], out: BinaryIO) -> int:
    from shared.events import encode_event

    count = 0
    for event in history:
        out.write(encode_event(event) + b"\n")
        count += 1
    out.flush()
    return count
