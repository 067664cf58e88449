"""`readmodel project`: consume the broker's events and apply them to Redis, until stopped."""

from __future__ import annotations

import argparse
import logging
import threading

from projector.cli.commands import Subparsers, add_names_suffix_argument, non_negative_int, positive_int
from projector.observability.arguments import add_metrics_arguments
from shared.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "project",
        help="apply events from the broker to the Redis read model (runs until stopped)",
        description=(
            "Consumes the partition queues, applies events in batches through the writer and "
            "acknowledges each only once Redis has it; poison goes to the dead letters."
        ),
    )
    parser.add_argument(
        "--partition",
        type=non_negative_int,
        action="append",
        metavar="K",
        help="consume only partition K (repeatable; default: every partition)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=500, metavar="N")
    parser.add_argument("--prefetch", type=positive_int, default=500, metavar="N")
    add_names_suffix_argument(parser)
    add_metrics_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from projector import wiring
    from projector.cli.signals import Shutdown
    from projector.cli.wiring import open_redis, open_store
    from projector.generations import ensure_live_generation, live_generation
    from projector.observability.metrics import new_projector_metrics, observed
    from shared.errors import ConfigurationError
    from shared.logs import configure_logging, log_startup

    settings.require_shared_broker("project")
    configure_logging(secrets=[settings.admin_token or ""])
    log = logging.getLogger(__name__)
    log_startup(log, "project", settings)
    metrics = new_projector_metrics()
    topology = wiring.topology(settings, args.names_suffix)
    partitions = sorted(set(args.partition)) if args.partition else None
    if partitions and partitions[-1] >= topology.partitions:
        raise ConfigurationError(
            f"READMODEL_PARTITIONS: there are {topology.partitions} partitions, "
            f"so partition {partitions[-1]} does not exist"
        )
    redis = open_redis(settings, command="project")
    store = open_store(settings)
    if live_generation(redis) is None and store.head_position() == 0:
        ensure_live_generation(redis)  # nothing to rebuild: start from an empty read model
    shutdown = Shutdown()
    # Redis is disposable: a missing generation or a watermark behind what this projector
    # acknowledged (a flush, a restart without persistence) is rebuilt from the store.
    healer = wiring.self_healer(store, redis, shutdown.requested, settings=settings)
    healing = threading.Thread(
        target=healer.run, args=(shutdown.requested,), name="readmodel-healer", daemon=True
    )
    consumer = wiring.consumer(
        settings.broker_url,
        store,
        redis,
        topology,
        metrics=metrics,
        partitions=partitions,
        prefetch_count=args.prefetch,
        batch_size=args.batch_size,
    )
    shutdown.on_request(consumer.stop)
    try:
        with (
            shutdown.handling_signals(),
            observed(
                args,
                settings,
                metrics,
                store=store,
                redis=redis,
                process="projector",
                counters=lambda: {"applied": consumer.totals.applied},
            ),
        ):
            healing.start()
            consumer.run()
    finally:
        shutdown.request()
        if healing.ident is not None:  # an interrupted rebuild releases its lock meanwhile
            healing.join(1.0)
        store.engine.dispose()
    totals = consumer.totals
    log.info(
        "projector stopped: %d applied, %d duplicates, %d skipped, %d dead letters",
        totals.applied,
        totals.duplicates,
        totals.skipped,
        totals.dead_letters,
    )
    return 0
