"""`readmodel relay`: publish settled events from the store to the broker, until stopped."""

from __future__ import annotations

import argparse
import logging

from projector.cli.commands import Subparsers, add_names_suffix_argument, positive_int
from projector.observability.arguments import add_metrics_arguments
from shared.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "relay",
        help="publish settled events from the store to the broker (runs until stopped)",
        description=(
            "Reads events whose transactions have ended, publishes them with publisher confirms "
            "and moves its cursor only after the broker confirmed them; a restart resumes there."
        ),
    )
    parser.add_argument("--batch-size", type=positive_int, default=500, metavar="N")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.02,
        metavar="SECONDS",
        help="pause between reads when the store had nothing more (default 0.02)",
    )
    add_names_suffix_argument(parser)
    add_metrics_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from projector import wiring
    from projector.cli.signals import Shutdown
    from projector.cli.wiring import open_store
    from projector.observability.metrics import new_projector_metrics, observed
    from shared.logs import configure_logging, log_startup

    settings.require_shared_broker("relay")
    configure_logging(secrets=[settings.admin_token or ""])
    log_startup(logging.getLogger(__name__), "relay", settings)
    metrics = new_projector_metrics()
    store = open_store(settings)
    relay = wiring.relay(
        settings.broker_url,
        store,
        wiring.topology(settings, args.names_suffix),
        metrics=metrics,
        batch_size=args.batch_size,
        idle_interval=max(0.001, args.poll_interval),
    )
    shutdown = Shutdown()
    try:
        with (
            shutdown.handling_signals(),
            observed(
                args,
                settings,
                metrics,
                store=store,
                process="relay",
                counters=lambda: {"published": relay.published},
            ),
        ):
            relay.run(shutdown.requested)  # leaves no broker connection behind
    finally:
        store.engine.dispose()
    logging.getLogger(__name__).info("relay stopped after publishing %d events", relay.published)
    return 0
