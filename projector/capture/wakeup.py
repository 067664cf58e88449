"""Waking the capture when Dify commits a change: PostgreSQL LISTEN on the triggers' channel.

The trigger function sends `pg_notify(CHANNEL, <schema>)` with every change row; PostgreSQL
delivers it once per transaction, at commit. The capture waits on a connection of its own
that LISTENs there, with the poll interval as the timeout: a notification only wakes it
sooner, nothing depends on one arriving (an installation from before the trigger sent them,
a dropped connection), so the poll stays the fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from projector.capture.tables import schema_name

log = logging.getLogger("readmodel.capture")

CHANNEL = "readmodel_changes"
# The longest a wait blocks before looking at its stop flag again (a signal sets it).
_SLICE_SECONDS = 0.25
_LOST = (psycopg.Error, DBAPIError, OSError)


class Wakeups(Protocol):
    """Something to wait on between batches: returns early when a change may be waiting."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to `seconds`; True when woken by a commit, False on timeout or stop."""
        ...

    def close(self) -> None: ...


class Poll:
    """No notifications: every wait lasts its whole timeout (or until stopped)."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        stop.wait(seconds)
        return False

    def close(self) -> None:
        return


class CommitNotifications:
    """LISTENs on the capture's channel; (re)connects lazily, falls back to polling on error."""

    def __init__(self, dify: Engine, *, schema: str = "public") -> None:
        self._dify = dify
        self._schema = schema_name(schema)
        self._raw: Any = None
        self._connection: Any = None  # the psycopg connection inside `_raw`
        self._warned = False

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            connection = self._connection
            if connection is None:
                if self._listen():
                    # A commit between the last read and the LISTEN notified nobody: read again.
                    return True
                stop.wait(remaining)
                return False
            try:
                notified = self._receive(connection, min(remaining, _SLICE_SECONDS))
            except _LOST as exc:  # a lost connection: poll now, reconnect on the next wait
                log.warning("capture: change notifications lost (%s); polling until reconnected", exc)
                self.close()
                continue
            if notified:
                return True
        return False

    def close(self) -> None:
        raw, connection = self._raw, self._connection
        self._raw = self._connection = None
        if raw is None:
            return
        connection = connection or raw.driver_connection
        try:
            if connection is not None:
                connection.close()
        except _LOST:  # already broken; nothing more to release
            log.debug("capture: closing the notification connection failed", exc_info=True)
        if raw.dbapi_connection is not None:
            # Dropped without the pool's reset: a rollback on a dead connection logs a traceback.
            raw.invalidate()

    def _listen(self) -> bool:
        """Open the listening connection; False (warned once until it works) when it cannot."""
        try:
            self._raw = self._dify.raw_connection()
            connection = self._raw.driver_connection
            # Its own connection for as long as it listens: never handed back to the pool.
            self._raw.detach()
            assert isinstance(connection, psycopg.Connection)  # dify_engine always picks psycopg
            connection.autocommit = True
            connection.execute(f"LISTEN {CHANNEL}")
        except _LOST as exc:
            self.close()
            if not self._warned:
                log.warning("capture: cannot listen for change notifications (%s); polling", exc)
                self._warned = True
            return False
        self._connection, self._warned = connection, False
        return True

    def _receive(self, connection: Any, seconds: float) -> bool:
        """Whether a notification for this schema arrives within `seconds`; drains the rest."""
        notified = False
        for notify in connection.notifies(timeout=seconds, stop_after=1):
            notified = notified or notify.payload == self._schema
        if notified:
            # Several commits may have arrived at once: one batch reads them all.
            for _ in connection.notifies(timeout=0):
                pass
        return notified
