"""`readmodel replay`: rebuild the read model from the store without downtime."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

import orjson
from redis import exceptions as redis_errors

from projector import wiring
from projector.cli.signals import Shutdown
from projector.cli.wiring import open_redis, open_store
from projector.relay import RELAY_CURSOR
from projector.replay import Progress, RebuildInterrupted
from shared.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="rebuild the read model from the event store into a new generation, then flip to it",
        description=(
            "Folds every stored event into a new generation beside the live one, catches up, flips "
            "the live pointer in one command and deletes the old generation lazily. Resumes an "
            "interrupted rebuild unless --restart is given."
        ),
    )
    parser.add_argument(
        "--workspace",
        metavar="ID",
        help="rebuild one workspace in place (its workspace and app streams) instead of the whole model",
    )
    parser.add_argument("--restart", action="store_true", help="discard an unfinished rebuild first")
    parser.add_argument("--batch-size", type=int, default=2000, help="events per read and write batch")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes the bulk of the rebuild folds in (default: one per core; 1: this process alone)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    redis = open_redis(settings, command="replay")
    if args.workspace:
        return _replay_workspace(store, redis, args)
    reporter = ProgressReporter(sys.stderr)
    shutdown = Shutdown()
    rebuild = wiring.rebuild(
        store,
        redis,
        stop=shutdown.requested,
        on_progress=reporter,
        batch_size=max(1, args.batch_size),
        settings=settings,
        workers=wiring.rebuild_workers() if args.workers is None else max(1, args.workers),
    )
    try:
        with shutdown.handling_signals():
            summary = rebuild.run(restart=args.restart)
    except RebuildInterrupted as interrupted:
        reporter.finish()
        print(f"readmodel: {interrupted}", file=sys.stderr)
        return shutdown.exit_code
    except redis_errors.RedisError as exc:
        reporter.finish()
        print(
            f"readmodel: Redis failed during the rebuild ({exc}); the next `readmodel replay` resumes it",
            file=sys.stderr,
        )
        return 1
    reporter.finish()
    # The live generation now holds every event up to the rebuild's cursor: a relay behind
    # it (stopped, or never run) has nothing to publish before it.
    store.advance_cursor(RELAY_CURSOR, summary.cursor)
    if args.json:
        print(orjson.dumps(summary.to_dict()).decode())
    else:
        resumed = " (resumed)" if summary.resumed else ""
        print(
            f"replayed {summary.events} events in {summary.seconds:.1f}s "
            f"({summary.events_per_second:,.0f} events/s, peak RSS {summary.peak_rss_mb:.0f} MiB){resumed}; "
            f"live generation {summary.generation}",
        )
    return 0


def _replay_workspace(store: Any, redis: Any, args: argparse.Namespace) -> int:
    from projector.workspace_replay import replay_workspace
    from shared.errors import ConfigurationError
    from shared.events.values import is_uuid

    if not is_uuid(args.workspace):
        raise ConfigurationError(f"--workspace: {args.workspace!r} is not a workspace id (a UUID)")
    started = time.monotonic()
    repair = replay_workspace(store, redis, args.workspace)
    seconds = time.monotonic() - started
    if args.json:
        body = {
            "workspace_id": repair.workspace_id,
            "generation": repair.generation,
            "events": repair.events,
            "operations": repair.operations,
            "seconds": round(seconds, 3),
        }
        print(orjson.dumps(body).decode())
    else:
        print(
            f"workspace {repair.workspace_id}: folded {repair.events} events, "
            f"{repair.operations} changes applied to generation {repair.generation} in {seconds:.1f}s",
        )
    return 0


class ProgressReporter:
    """A progress bar on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, out: TextIO, *, every: float = 2.0) -> None:
        self._out = out
        self._tty = out.isatty()
        self._every = every
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not self._tty and now - self._last < self._every:
            return
        self._last = now
        fraction = progress.events / progress.total if progress.total else 1.0
        remaining = (progress.total - progress.events) / progress.rate if progress.rate else 0.0
        figures = (
            f"{progress.events:,}/{progress.total:,} events  {progress.rate:,.0f}/s  "
            f"ETA {remaining:,.0f}s  [{progress.phase}]"
        )
        if self._tty:
            bar = "#" * int(fraction * 30)
            self._out.write(f"\r[{bar:<30}] {fraction:6.1%}  {figures}")
            self._drawn = True
        else:
            self._out.write(f"replay {progress.generation}: {fraction:.1%} {figures}\n")
        self._out.flush()

    def finish(self) -> None:
        if self._drawn:
            self._out.write("\n")
            self._out.flush()
