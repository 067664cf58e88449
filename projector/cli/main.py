"""The `readmodel` entry point: settings are read here, once; each subcommand is one module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence

from shared.errors import ReadModelError
from shared.settings import Settings

# One line per subcommand: a module with `register(subparsers)` and `run(args, settings)`.
COMMANDS = (
    "projector.cli.commands.migrate",
    "projector.cli.commands.events",
    "projector.cli.commands.seed",
    "projector.cli.commands.token",
    "projector.cli.commands.status",
    "projector.cli.commands.replay",
    "projector.cli.commands.verify",
    "projector.cli.commands.up",
    "projector.cli.commands.serve",
    "projector.cli.commands.relay",
    "projector.cli.commands.project",
    "projector.cli.commands.dlq",
    "projector.cli.commands.source",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="readmodel",
        description="The Dify app-listing read model: event store, projector and query API.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one subcommand and return its exit code (2 for a usage, setting or store error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse has already explained
        return stop.code if isinstance(stop.code, int) else 2
    try:
        settings = Settings.from_env(os.environ if env is None else env)
        return args.func(args, settings)
    except ReadModelError as error:
        print(f"readmodel: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
