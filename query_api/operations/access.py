"""The API's access log: one JSON line per request, written without `logging`'s machinery.

A line per request through a logger, a record, a formatter and a flushing handler costs about
20 µs, a sixth of a list request's time. When the process logs JSON lines to a stream (what
`shared.logs.configure_logging` sets up), the line is rendered here with orjson, in the same
shape, and written to that handler's stream under its lock; any other logging set-up (a test's
capture, a handler added by hand) gets the line the ordinary way.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import orjson

from shared.logs import JsonFormatter, log_clean

LOGGER_NAME = "readmodel.access"
access_log = logging.getLogger(LOGGER_NAME)


class AccessLog:
    """Writes the access lines: request id, method, route template, status, µs."""

    def __init__(self, logger: logging.Logger = access_log) -> None:
        self._logger = logger
        self._second = -1
        self._stamp = ""

    def record(self, request_id: str, method: str, route: str, status: int, duration_us: int) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        handler = self._plain_handler()
        if handler is None:
            fields = {"method": method, "route": route, "status": status, "duration_us": duration_us}
            log_clean(self._logger, "request", fields)
            return
        line = orjson.dumps(
            {
                "ts": self._timestamp(time.time()),
                "level": "info",
                "logger": self._logger.name,
                "message": "request",
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "duration_us": duration_us,
            }
        )
        handler.acquire()
        try:
            handler.stream.write(line.decode() + handler.terminator)
            handler.flush()
        finally:
            handler.release()

    def _plain_handler(self) -> logging.StreamHandler | None:  # type: ignore[type-arg]
        """The one JSON stream handler this logger's lines end in, or None for any other set-up."""
        current: logging.Logger | None = self._logger
        while current is not None and current is not logging.root:
            if current.handlers or not current.propagate:
                return None
            current = current.parent
        handlers = logging.root.handlers
        if len(handlers) != 1:
            return None
        handler = handlers[0]
        if type(handler) is not logging.StreamHandler or not isinstance(handler.formatter, JsonFormatter):
            return None
        return handler if handler.level <= logging.INFO else None

    def _timestamp(self, now: float) -> str:
        """As JsonFormatter writes it (ISO 8601, milliseconds, UTC), the date part cached."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).isoformat()[:19]
        return f"{self._stamp}.{int((now - second) * 1000):03d}+00:00"
