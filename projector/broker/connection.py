"""Turning a broker URL into a kombu connection configured for this project."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kombu.connection import Connection

# The virtual transports poll; an idle consumer then notices a new message within this many
# seconds (kombu's default of one second would dominate the end-to-end lag).
_POLLING_INTERVAL = 0.005
_CONNECT_TIMEOUT = 5


def connect(url: str) -> Connection:
    """A (lazy) kombu connection.

    Publisher confirms are the publisher's business (it awaits them per batch, not per
    message as kombu's `confirm_publish` option would).
    """
    options: dict[str, Any] = {}
    scheme = url.split("://", 1)[0]
    if scheme not in ("amqp", "amqps", "pyamqp"):
        options["polling_interval"] = _POLLING_INTERVAL
    if scheme == "memory" and not urlsplit(url).hostname:
        url = "memory://localhost/"  # the in-process broker has no host; kombu warns without one
    return Connection(url, transport_options=options, connect_timeout=_CONNECT_TIMEOUT)


def broker_errors(connection: Connection) -> tuple[type[BaseException], ...]:
    """The exceptions meaning the broker (or the way to it) failed: worth reconnecting."""
    from amqp.exceptions import MessageNacked
    from kombu.exceptions import OperationalError

    return (
        *connection.connection_errors,
        *connection.channel_errors,
        MessageNacked,
        OperationalError,
        OSError,
    )


def is_durable(url: str) -> bool:
    """False for the in-process memory:// broker, which loses everything with the process."""
    return not url.startswith("memory")
