"""The relay: settled events from the store to the broker, the cursor moving only after confirms.

The store is read with `read_settled`, which never returns a row while an older transaction
could still commit one before it (architecture.md, principle 3). The cursor is saved after
the broker confirmed the whole batch, so a crash at any point republishes, never skips.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from projector.broker.backoff import Backoff
from projector.broker.errors import BrokerUnavailableError
from projector.store import Cursor
from shared.errors import StoreError
from shared.events import StoredEvent

log = logging.getLogger(__name__)

RELAY_CURSOR = "relay"


class SettledSource(Protocol):
    """The part of the event store the relay reads and writes."""

    def read_settled(self, after: Cursor, limit: int) -> list[tuple[Cursor, StoredEvent]]: ...

    def load_cursor(self, name: str) -> Cursor: ...

    def save_cursor(self, name: str, cursor: Cursor) -> None: ...


class EventPublisher(Protocol):
    """Publishes a batch; returns only when the broker has all of it."""

    def publish(self, batch: Sequence[tuple[Cursor, StoredEvent]]) -> None: ...

    def reset(self) -> None: ...


class Relay:
    """Moves settled events from the store to the broker, batch by batch."""

    def __init__(
        self,
        store: SettledSource,
        publisher: EventPublisher,
        *,
        cursor_name: str = RELAY_CURSOR,
        batch_size: int = 500,
        idle_interval: float = 0.02,
        save_interval: float = 0.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._cursor_name = cursor_name
        self._batch_size = batch_size
        self._idle_interval = idle_interval
        # Saving the cursor is a database commit; under a steady trickle of small batches
        # it may be spaced out. A crash then republishes a little more, never less.
        self._save_interval = save_interval
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._cursor: Cursor | None = None
        self._unsaved: Cursor | None = None
        self._saved_at: float | None = None
        self.published = 0

    @property
    def cursor(self) -> Cursor | None:
        """The cursor after the last confirmed batch (None until the first read)."""
        return self._cursor

    def run_once(self) -> int:
        """Publish the next batch of settled events; returns how many were published."""
        if self._cursor is None:
            self._cursor = self._store.load_cursor(self._cursor_name)
        batch = self._store.read_settled(self._cursor, self._batch_size)
        if not batch:
            return 0
        self._publisher.publish(batch)
        # Only now, with every event of the batch confirmed, may the cursor pass them.
        self._cursor = self._unsaved = batch[-1][0]
        now = self._clock()
        if self._saved_at is None or now - self._saved_at >= self._save_interval:
            self.save_cursor()
        self.published += len(batch)
        return len(batch)

    def save_cursor(self) -> None:
        """Store the cursor of the last confirmed batch, if not stored yet."""
        if self._unsaved is not None:
            self._store.save_cursor(self._cursor_name, self._unsaved)
            self._unsaved = None
            self._saved_at = self._clock()

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set, waiting out broker and database outages."""
        try:
            while not stop.is_set():
                try:
                    count = self.run_once()
                except (BrokerUnavailableError, StoreError) as exc:
                    # The saved cursor is the truth again: whatever was published since is
                    # published again (harmless), nothing is skipped.
                    self._cursor = self._unsaved = None
                    self._publisher.reset()
                    delay = self._backoff.next()
                    log.warning("relay paused (%s); retrying in %.2fs", exc, delay)
                    stop.wait(delay)
                    continue
                self._backoff.reset()
                if count < self._batch_size:
                    if (
                        self._unsaved is not None
                        and self._clock() - (self._saved_at or 0.0) >= self._save_interval
                    ):
                        self._save_quietly()
                    stop.wait(self._idle_interval)
        finally:
            self._save_quietly()
            self._publisher.reset()  # leave no broker connection behind

    def _save_quietly(self) -> None:
        try:
            self.save_cursor()
        except StoreError as exc:  # the batches are published again after a restart
            log.warning("could not save the relay cursor: %s", exc)
