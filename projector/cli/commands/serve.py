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
WORKER_KILL_TIMEOUT_SECONDS = 1


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

    from projector.cli.wiring import check_port, listening_on
    from projector.observability.multiprocess import prepare_worker_metrics
    from shared.logs import configure_logging, log_startup

    if args.workers < 1:
        print("--workers must be at least 1")
        return 2
    configure_logging(secrets=[settings.admin_token or ""])
    settings = listening_on(settings, args)
    log = logging.getLogger("readmodel.serve")
    log_startup(log, "serve", settings)
    check_port(settings.host, settings.port)  # one line now, not a backtrace from granian's socket
    _check_redis(settings, log)
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


def _check_redis(settings: Settings, log: logging.Logger) -> None:
    """An unreachable cluster stops the start (its client cannot even be made, in every
    worker); a single Redis that is down is worth a warning: the API answers 503 until it is
    back, and is ready again by itself."""
    from projector.cli.wiring import connect_redis, redis_name
    from shared.errors import ReadModelError
    from shared.logs import log_event
    from shared.readmodel.connection import check_reachable

    client = connect_redis(settings)
    try:
        check_reachable(client)
    except ReadModelError as error:
        log_event(
            log,
            "redis unreachable at start: the API answers 503 until it is back",
            level=logging.WARNING,
            redis=redis_name(settings),
            error=str(error),
        )
    finally:
        client.close()
