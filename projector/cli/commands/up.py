"""`readmodel up`: the whole read model in one process — store, relay, projector, API.

On the embedded defaults everything (SQLite store, memory:// broker, in-process Redis)
lives in this process. With READMODEL_* URLs set, the same parts run against PostgreSQL,
RabbitMQ and Redis, and the API is served by granian worker processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from projector.cli.wiring import connect_redis, embedded_redis, listening_on, open_store
from projector.healing import ACKNOWLEDGED_CURSOR, SelfHealer
from projector.observability.arguments import add_metrics_arguments
from projector.observability.multiprocess import prepare_worker_metrics
from projector.replay import Rebuild
from projector.seed.history import DemoHistory, demo_history
from projector.store import Cursor, EventStore
from shared.errors import ConfigurationError
from shared.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("readmodel.up")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the store, relay, projector and API in one process",
        description=(
            "Runs everything on the embedded defaults (or on the services READMODEL_* names). "
            "With --demo (the default when the store is empty) it seeds a demo history and "
            "prints a token to try the API with."
        ),
    )
    parser.add_argument("--host", help="address of the API (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port of the API (default 5001, Dify's API port)")
    demo = parser.add_mutually_exclusive_group()
    demo.add_argument("--demo", dest="demo", action="store_true", default=None, help="seed a demo history")
    demo.add_argument("--no-demo", dest="demo", action="store_false", help="start with the store as it is")
    parser.add_argument(
        "--workers", type=int, default=2, help="API worker processes when Redis is a real server"
    )
    add_metrics_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from shared.logs import configure_logging, log_startup

    configure_logging(secrets=[settings.admin_token or ""])
    settings = listening_on(settings, args)
    log_startup(log, "up", settings)
    host, port = settings.host, settings.port
    store = open_store(settings)
    redis = embedded_redis() if settings.redis_is_embedded else connect_redis(settings.redis_url)
    demo = demo_history()
    seed = args.demo if args.demo is not None else store.count() == 0
    if seed:
        result = store.append(demo.events)
        print(f"demo history: {result.new} events appended ({result.duplicates} already there)")
        _announce_demo(demo, host, port)
    elif _holds(store, demo):
        _announce_demo(demo, host, port)

    healer = SelfHealer(
        redis,
        lambda: Rebuild(store, redis, cursor_factory=Cursor),
        lambda: store.load_cursor(ACKNOWLEDGED_CURSOR).position,
        clock=time.time,
        fresh_redis=settings.redis_is_embedded,
    )
    rebuilt = healer.check_and_heal()  # build the read model before the first request
    if rebuilt is not None:
        # The new generation reflects the store up to the rebuild's cursor: note it as applied,
        # so the in-process relay resumes there instead of re-sending the whole store.
        store.save_cursor(ACKNOWLEDGED_CURSOR, rebuilt.cursor)
    from projector.broker.flow import build_event_flow
    from projector.dead_letters import DeadLetterStore
    from projector.observability.metrics import new_projector_metrics, observed

    stop = threading.Event()
    metrics_dir = None
    if not settings.redis_is_embedded:
        # The granian workers' /metrics merges every process's values from one folder; this
        # process's projector metrics join them when created after the folder is chosen.
        metrics_dir = prepare_worker_metrics(os.environ, args.workers, shared_with_this_process=True)
    metrics = new_projector_metrics()
    flow = build_event_flow(settings, store, redis, metrics=metrics)
    flow.start()
    healing = threading.Thread(target=healer.run, args=(stop,), name="readmodel-healer", daemon=True)
    healing.start()
    letters = DeadLetterStore(store.engine)
    try:
        with observed(
            args,
            settings,
            metrics,
            store=store,
            redis=redis,
            dead_letters=letters,
            process="up",
        ):
            if settings.redis_is_embedded:
                _serve_embedded(settings, redis, store, host, port, stop, also=metrics.registry)
            else:
                _serve_granian(host, port, args.workers)
    finally:
        stop.set()
        flow.stop()
        if metrics_dir is not None:
            metrics_dir.cleanup()
    return 0


def _holds(store: EventStore, demo: DemoHistory) -> bool:
    """Whether every event of the demo history is in the store (its token then still works)."""
    plan = store.check(demo.events)
    return not plan.new and not plan.problems


def _announce_demo(demo: DemoHistory, host: str, port: int) -> None:
    base = f"http://{host}:{port}/openapi/v1"
    print(f"dev token:    {demo.token}")
    print(f"workspace:    {demo.workspace_id}")
    url = f"{base}/apps?workspace_id={demo.workspace_id}"
    print(f'try:          curl -H "Authorization: Bearer {demo.token}" "{url}"')
    sys.stdout.flush()


def _serve_embedded(
    settings: Settings,
    redis: Any,
    store: EventStore,
    host: str,
    port: int,
    stop: threading.Event,
    *,
    also: CollectorRegistry,
) -> None:
    from query_api.app import create_app
    from query_api.operations import SqlStoreProbe, new_api_metrics
    from query_api.server import serve_in_process

    try:
        # One process, one /metrics: the API's figures and the projector's (`also`).
        metrics = new_api_metrics(also=[also])
        app = create_app(settings, redis=redis, head_probe=SqlStoreProbe(store.engine), metrics=metrics)
        server = serve_in_process(app, host, port)
    except OSError as exc:
        raise ConfigurationError(f"READMODEL_PORT: cannot listen on {host}:{port} ({exc.strerror})") from None
    log.info("serving http://%s:%d/openapi/v1 (embedded Redis, one process)", server.host, server.port)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()


def _serve_granian(host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    from projector.cli.commands.serve import WORKER_KILL_TIMEOUT_SECONDS, WSGI_FACTORY

    log.info("serving http://%s:%d/openapi/v1 with %d granian workers", host, port, workers)
    Server(
        WSGI_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=max(1, workers),
        factory=True,
        # Without it granian 2.8 can hang on SIGINT with several workers and hiredis loaded.
        workers_kill_timeout=WORKER_KILL_TIMEOUT_SECONDS,
        respawn_failed_workers=True,  # as `readmodel serve`
    ).serve()
