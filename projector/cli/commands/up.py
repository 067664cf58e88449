"""`readmodel up`: the whole read model in one process — store, relay, projector, API.

On the embedded defaults everything (SQLite store, memory:// broker, in-process Redis)
lives in this process. With READMODEL_* URLs set, the same parts run against PostgreSQL,
RabbitMQ and Redis, and the API is served by granian worker processes.

The port is taken first, so a busy one is reported at once; the API answers 503 (not built
yet) while the start-up rebuild, if one is needed, runs and logs its progress. The parts run
in threads that the main thread watches: when one of them dies the process exits non-zero
with one line, so that a supervisor restarts it, rather than serving stale data.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.exceptions

from projector import wiring
from projector.cli.commands import add_names_suffix_argument
from projector.cli.signals import Shutdown
from projector.cli.wiring import check_port, connect_redis, embedded_redis, listening_on, open_store
from projector.healing import SelfHealer
from projector.observability.arguments import add_metrics_arguments
from projector.observability.multiprocess import prepare_worker_metrics
from projector.replay import RebuildInterrupted
from projector.seed.history import DemoHistory, demo_history
from projector.store import EventStore
from shared.errors import ConfigurationError, StoreError
from shared.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("readmodel.up")

# How often the main thread looks at the parts, and the pause between start-up heal attempts.
WATCH_SECONDS = 0.25
RETRY_SECONDS = 2.0


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
    add_names_suffix_argument(parser)
    add_metrics_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from projector.observability.metrics import new_projector_metrics, observed
    from shared.logs import configure_logging, log_startup

    configure_logging(secrets=[settings.admin_token or ""])
    settings = listening_on(settings, args)
    log_startup(log, "up", settings)
    host, port = settings.host, settings.port
    store = open_store(settings)
    redis = embedded_redis() if settings.redis_is_embedded else connect_redis(settings)
    metrics_dir = None
    if not settings.redis_is_embedded:
        # The granian workers' /metrics merges every process's values from one folder; this
        # process's projector metrics join them when created after the folder is chosen.
        metrics_dir = prepare_worker_metrics(os.environ, args.workers, shared_with_this_process=True)
    metrics = new_projector_metrics()
    shutdown = Shutdown()
    with shutdown.handling_signals():
        # Before anything slow; one process, one /metrics: the API's figures and the projector's.
        server = _listen(settings, redis, store, also=metrics.registry)
        try:
            _demo(store, args.demo, host, port)
            parts = Parts(
                wiring.self_healer(
                    store,
                    redis,
                    shutdown.requested,
                    fresh_redis=settings.redis_is_embedded,
                    settings=settings,
                ),
                wiring.event_flow(settings, store, redis, names_suffix=args.names_suffix, metrics=metrics),
                shutdown,
            )
            parts.start()
            with observed(
                args,
                settings,
                metrics,
                store=store,
                redis=redis,
                process="up",
            ):
                if server is not None:
                    failure = parts.watch()
                else:
                    failure = _serve_granian(host, port, args.workers, parts)
        finally:
            shutdown.request()
            if server is not None:
                server.stop()
            if metrics_dir is not None:
                metrics_dir.cleanup()
    parts.stop()
    if failure is not None:
        print(f"readmodel: {failure}; exiting so that a supervisor restarts the read model", file=sys.stderr)
        return 1
    return 0


class Parts:
    """The healer (with the start-up rebuild), the relay and the consumer, and their watch."""

    def __init__(self, healer: SelfHealer, flow: Any, shutdown: Shutdown) -> None:
        self._healer = healer
        self._flow = flow
        self._shutdown = shutdown
        self._failure: str | None = None
        self._flowing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readmodel-healer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        stop = self._shutdown.requested
        try:
            if not self._heal_at_start():
                return
            if stop.is_set():
                return
            self._flow.start()
            self._flowing.set()
            self._healer.run(stop)
        except Exception as exc:  # a bug: recorded for the watch, which stops the process
            log.exception("the healer stopped")
            self._failure = f"the healer stopped: {exc!r}"

    def _heal_at_start(self) -> bool:
        """Build (or rebuild) the read model before events flow; False when stopped first."""
        stop = self._shutdown.requested
        while not stop.is_set():
            try:
                # A rebuild notes its cursor as settled (see SelfHealer): the in-process relay
                # resumes there instead of re-sending the store.
                self._healer.check_and_heal()
            except RebuildInterrupted:
                return False
            except (redis.exceptions.RedisError, StoreError) as exc:
                log.warning("the read model cannot be checked yet (%s); retrying", exc)
                stop.wait(RETRY_SECONDS)
                continue
            return True
        return False

    def failure(self) -> str | None:
        """Why a part stopped on its own, or None while all of them run (or are stopping)."""
        if self._shutdown.requested.is_set():
            return None
        if self._failure is not None:
            return self._failure
        if not self._thread.is_alive():
            return "the healer stopped"
        return self._flow.failure() if self._flowing.is_set() else None

    def watch(self) -> str | None:
        """Wait for a stop request or a failure; returns the failure."""
        while not self._shutdown.requested.wait(WATCH_SECONDS):
            failure = self.failure()
            if failure is not None:
                return failure
        return None

    def stop(self) -> None:
        """Stop every part; each ends within moments (the process exits in any case)."""
        self._shutdown.request()
        if self._flowing.is_set():
            self._flow.stop(timeout=1.0)
        self._thread.join(0.5)


def _listen(settings: Settings, redis: Any, store: EventStore, *, also: CollectorRegistry) -> Any:
    """The in-process API server, serving at once (embedded Redis); None when granian will
    serve, after this made sure the port is free."""
    host, port = settings.host, settings.port
    if not settings.redis_is_embedded:
        check_port(host, port)
        return None
    from query_api.app import create_app
    from query_api.operations import SqlStoreProbe, new_api_metrics
    from query_api.server import serve_in_process

    metrics = new_api_metrics(also=[also])
    app = create_app(settings, redis=redis, head_probe=SqlStoreProbe(store.engine), metrics=metrics)
    try:
        server = serve_in_process(app, host, port)
    except OSError as exc:
        raise ConfigurationError(f"READMODEL_PORT: cannot listen on {host}:{port} ({exc.strerror})") from None
    log.info("serving http://%s:%d/openapi/v1 (embedded Redis, one process)", server.host, server.port)
    return server


def _demo(store: EventStore, wanted: bool | None, host: str, port: int) -> None:
    """Seed the demo history when asked (or the store is empty); announce it whenever it is there."""
    demo = demo_history()
    if wanted if wanted is not None else store.count() == 0:
        result = store.append(demo.events)
        print(f"demo history: {result.new} events appended ({result.duplicates} already there)")
        _announce_demo(demo, host, port)
    elif _holds(store, demo):
        _announce_demo(demo, host, port)


def _holds(store: EventStore, demo: DemoHistory) -> bool:
    """Whether every event of the demo history is in the store (its token then still works)."""
    plan = store.check(demo.events)
    return not plan.new and not plan.problems


def _announce_demo(demo: DemoHistory, host: str, port: int) -> None:
    from projector.seed.difyctl import write_demo_config

    base = f"http://{host}:{port}/openapi/v1"
    print(f"dev token:    {demo.token}")
    print(f"workspace:    {demo.workspace_id}")
    url = f"{base}/apps?workspace_id={demo.workspace_id}"
    print(f'try:          curl -H "Authorization: Bearer {demo.token}" "{url}"')
    folder = Path("var") / "difyctl"
    write_demo_config(folder, demo, host, port)
    print(f"difyctl:      DIFY_CONFIG_DIR={folder} difyctl get app")
    sys.stdout.flush()


def _serve_granian(host: str, port: int, workers: int, parts: Parts) -> str | None:
    """Serve under granian until it stops; a failing part (or a stop requested before granian
    took over the signals) stops it the way a signal would."""
    from granian.constants import Interfaces
    from granian.server import Server

    from projector.cli.commands.serve import WORKER_KILL_TIMEOUT_SECONDS, WSGI_FACTORY

    failures: list[str] = []
    handling = threading.Event()  # granian handles SIGTERM and SIGINT from here on
    served = threading.Event()

    def watch() -> None:
        failure = parts.watch()
        if failure is not None:
            failures.append(failure)
        handling.wait()
        if not served.is_set():
            os.kill(os.getpid(), signal.SIGTERM)  # granian's own handler shuts it down

    server = Server(
        WSGI_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=max(1, workers),
        factory=True,
        # Without it granian 2.8 can hang on SIGINT with several workers and hiredis loaded.
        workers_kill_timeout=WORKER_KILL_TIMEOUT_SECONDS,
        respawn_failed_workers=True,  # as `readmodel serve`
    )
    server.on_startup(handling.set)
    threading.Thread(target=watch, name="readmodel-watch", daemon=True).start()
    log.info("serving http://%s:%d/openapi/v1 with %d granian workers", host, port, workers)
    try:
        server.serve()
    finally:
        served.set()
        handling.set()
        parts.stop()  # granian handled the signal: tell the watch and the parts
    return failures[0] if failures else None
