"""The command-line options of a process that serves /metrics (no heavy imports: parsers load it)."""

from __future__ import annotations

from typing import Any


def add_metrics_arguments(parser: Any) -> None:
    """`--metrics-port` and `--metrics-host` for a long-running command."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics on this port (default: READMODEL_METRICS_PORT, 9108; 0: off)",
    )
    parser.add_argument(
        "--metrics-host", metavar="HOST", help="address of the /metrics listener (default: READMODEL_HOST)"
    )
