"""`readmodel verify`: compare Redis with the store's fold, document by document."""

from __future__ import annotations

import argparse
from typing import Any

from redis import exceptions as redis_errors

from projector.cli.wiring import open_redis, open_store
from projector.generations import live_generation
from projector.verify import verify
from shared.errors import ConfigurationError, ReadModelError
from shared.events.values import is_uuid
from shared.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="fold the store in memory and compare it with the live read model",
        description="Prints every difference and exits 1 if there is any.",
    )
    parser.add_argument("--workspace", metavar="ID", help="compare one workspace's documents only")
    parser.add_argument("--limit", type=int, default=50, help="print at most this many differences")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    workspace = args.workspace.lower() if args.workspace else None
    if workspace is not None and not (is_uuid(workspace) and store.names_workspace(workspace)):
        # Nothing to compare would read as "no differences": an unknown id is a mistake.
        raise ConfigurationError(
            f"--workspace: unknown workspace {args.workspace!r} (no stored event names it)"
        )
    redis = open_redis(settings, command="verify")
    generation = live_generation(redis)
    if generation is None:
        print("no live generation: the read model has not been built (run `readmodel replay`)")
        return 1
    try:
        differences = verify(store.iter_all(), redis, generation, workspace_id=workspace)
    except redis_errors.RedisError as exc:
        raise ReadModelError(f"Redis failed during the comparison ({exc})") from None
    for difference in differences[: max(0, args.limit)]:
        print(difference.describe())
    scope = f"workspace {workspace}" if workspace else "the whole read model"
    if differences:
        print(f"{len(differences)} differences in {scope} (generation {generation})")
        return 1
    print(f"no differences in {scope} (generation {generation}, store head {store.head_position()})")
    return 0
