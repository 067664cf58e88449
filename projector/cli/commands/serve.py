"""`readmodel serve`: the query API alone, under granian (WSGI), on a shared Redis."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from shared.settings import Settings

WSGI_FACTORY = "query_api.wsgi:create"
# Seen with granian 2.8: with several workers and hiredis loaded, a worker may never finish a
# graceful stop, and the server waits forever; past this many seconds it is killed.
WORKER_KILL_TIMEOUT_SECONDS = 5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the /openapi/v1 read API from Redis",
        description=(
            "Runs the query API under granian with N worker processes. Needs a real Redis "
            "(READMODEL_REDIS_URL); the projector runs separately."
        ),
    )
    parser.add_argument("--host", help="address to listen on (default: READMODEL_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default: READMODEL_PORT)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: one per core)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_shared_redis("serve")
    from granian.constants import Interfaces
    from granian.server import Server

    from projector.cli.wiring import listening_on
    from projector.observability.multiprocess import prepare_worker_metrics
    from shared.logs import configure_logging, log_startup

    if args.workers < 1:
        print("--workers must be at least 1")
        return 2
    configure_logging(secrets=[settings.admin_token or ""])
    settings = listening_on(settings, args)
    log_startup(logging.getLogger("readmodel.serve"), "serve", settings)
    # Several workers share their /metrics through files; one worker keeps them in memory.
    metrics_dir = prepare_worker_metrics(os.environ, args.workers)
    server = Server(
        WSGI_FACTORY,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        factory=True,
        workers_kill_timeout=WORKER_KILL_TIMEOUT_SECONDS,
        # A worker that dies (kill -9, out of memory) is replaced and the others keep serving;
        # granian still exits when a replacement dies again within seconds (a crash loop).
        respawn_failed_workers=True,
    )
    try:
        server.serve()
    finally:
        if metrics_dir is not None:
            metrics_dir.cleanup()
    return 0
