"""The subcommands, one module each; what they share is here."""

from __future__ import annotations

import argparse
import math
from typing import Any, TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_names_suffix_argument(parser: Any) -> None:
    """`--names-suffix`, for the commands that talk to the broker."""
    parser.add_argument(
        "--names-suffix",
        metavar="SUFFIX",
        help="append .SUFFIX to the exchange and queue names (several read models on one broker)",
    )


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer ≥ 0."""
    return _bounded_int(text, 0)


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _bounded_int(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {value}")
    return value
