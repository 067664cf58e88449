"""`source run`: the change feed, translated, versioned and appended, batch after batch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from projector.broker.backoff import Backoff
from projector.capture.changes import ChangeFeed, FeedPosition
from projector.capture.dify import DifyState
from projector.capture.lock import capture_lock
from projector.capture.translate import translate
from projector.capture.versions import VersionSource, assign_versions
from projector.capture.wakeup import Poll, Wakeups
from projector.store import Cursor
from shared.errors import StoreUnavailableError
from shared.events import Event

CURSOR_NAME = "capture"
DEFAULT_BATCH_SIZE = 500
# While committed changes wait behind the horizon, look again after 5 ms, doubling up to 100 ms:
# once the older transaction ends (its end may notify nobody) they are read within that.
SETTLE_FIRST_SECONDS = 0.005
SETTLE_MAX_SECONDS = 0.1

Progress = Callable[[str], None]


def quiet(_line: str) -> None:
    """Progress that goes nowhere (the default)."""
    return


class CaptureStore(VersionSource, Protocol):
    """The event store as the capture uses it (`projector.store.EventStore` fits)."""

    def append(self, batch: Sequence[Event]) -> object: ...

    def load_cursor(self, name: str) -> Cursor: ...

    def save_cursor(self, name: str, cursor: Cursor) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one batch did."""

    changes: int
    events: int
    already_stored: int
    without_stream: int
    refused: int
    position: FeedPosition


@dataclass(frozen=True, slots=True)
class RunReport:
    """Totals over the batches of one `run_until_idle`."""

    batches: int = 0
    changes: int = 0
    events: int = 0

    def add(self, batch: BatchReport) -> RunReport:
        return RunReport(self.batches + 1, self.changes + batch.changes, self.events + batch.events)


class CaptureRunner:
    """Moves settled Dify changes into the event store, one batch per `step`.

    Order of a step: read a batch and translate it in one REPEATABLE READ transaction on
    Dify; append the events (one store transaction); save the cursor in the event store;
    delete the consumed change rows. A crash before the append loses nothing (the cursor
    has not moved); a crash after it is recognised when the same changes are read again
    (see `assign_versions`), so nothing is appended twice either.
    """

    def __init__(
        self,
        dify: Engine,
        store: CaptureStore,
        *,
        schema: str = "public",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress = quiet,
    ) -> None:
        self._dify = dify
        self._store = store
        self._schema = schema
        self._feed = ChangeFeed(schema)
        self._batch_size = batch_size
        self._progress = progress

    def position(self) -> FeedPosition:
        """The capture cursor as saved in the event store."""
        cursor = self._store.load_cursor(CURSOR_NAME)
        return FeedPosition(txid=cursor.txid or 0, change_id=cursor.position)

    def step(self) -> BatchReport | None:
        """Capture one batch; None when no settled change is waiting."""
        after = self.position()
        with self._dify.connect() as plain:
            conn = plain.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                changes = self._feed.read_settled(conn, after, self._batch_size)
                if not changes:
                    return None
                drafts = translate(changes, DifyState(conn, schema=self._schema))
        assignment = assign_versions(drafts, self._store)
        if assignment.events:
            self._store.append(assignment.events)
        last = changes[-1]
        position = FeedPosition(txid=last.txid, change_id=last.id)
        self._store.save_cursor(CURSOR_NAME, Cursor(txid=position.txid, position=position.change_id))
        # Housekeeping only: the cursor already skips these rows if the delete never runs.
        with self._dify.begin() as conn:
            self._feed.prune(conn, position)
        for refused in assignment.refused:
            self._progress(
                f"capture: refused {refused.draft.type} on {refused.draft.stream}: {refused.reason}"
            )
        report = BatchReport(
            changes=len(changes),
            events=len(assignment.events),
            already_stored=assignment.already_stored,
            without_stream=len(assignment.without_stream),
            refused=len(assignment.refused),
            position=position,
        )
        self._progress(_describe(report))
        return report

    def run_until_idle(self) -> RunReport:
        """Capture batches until no settled change is waiting (`source run --once`)."""
        total = RunReport()
        with capture_lock(self._dify):
            while (report := self.step()) is not None:
                total = total.add(report)
        return total

    def run_forever(
        self,
        stop: threading.Event,
        *,
        poll_seconds: float = 1.0,
        wakeups: Wakeups | None = None,
        backoff: Backoff | None = None,
    ) -> RunReport:
        """Capture until `stop` is set: when idle, wait for a commit notification or the poll;
        wait out database outages.

        A notification comes at commit, but the committed changes are read only once settled:
        while older transactions still run they stay behind the horizon, and are looked for
        again after a short, growing delay (at most SETTLE_MAX_SECONDS, or the poll if shorter).
        An outage of Dify's database or of the store ends the batch in hand (nothing of it is
        saved, so it is read again) and the lock's connection with it: the lock is taken again
        once the database is back, so another capture cannot have slipped in.
        """
        total = RunReport()
        wakeups = wakeups or Poll()
        backoff = backoff or Backoff(first=0.5, cap=10.0)
        try:
            while not stop.is_set():
                try:
                    total = self._follow(stop, total, poll_seconds, wakeups, backoff)
                except (DBAPIError, StoreUnavailableError) as exc:
                    delay = backoff.next()
                    self._progress(f"capture: paused ({_first_line(exc)}); retrying in {delay:.1f}s")
                    stop.wait(delay)
        finally:
            wakeups.close()
        return total

    def _follow(
        self, stop: threading.Event, total: RunReport, poll_seconds: float, wakeups: Wakeups, backoff: Backoff
    ) -> RunReport:
        """Capture under the lock until `stop` is set (or a database fails)."""
        settle: float | None = None
        with capture_lock(self._dify):
            while not stop.is_set():
                report = self.step()
                backoff.reset()
                if report is not None:
                    total = total.add(report)
                    settle = None
                    continue
                if self.unsettled():
                    settle = SETTLE_FIRST_SECONDS if settle is None else min(settle * 2, SETTLE_MAX_SECONDS)
                else:
                    settle = None
                wakeups.wait(poll_seconds if settle is None else min(settle, poll_seconds), stop)
        return total

    def unsettled(self) -> bool:
        """Whether committed changes wait behind the horizon (older transactions still run)."""
        with self._dify.connect() as conn:
            return self._feed.pending(conn, self.position()) > 0


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def _describe(report: BatchReport) -> str:
    line = f"capture: {report.changes} changes -> {report.events} events"
    skipped = []
    if report.already_stored:
        skipped.append(f"{report.already_stored} already stored")
    if report.without_stream:
        skipped.append(f"{report.without_stream} for rows from before the capture")
    if report.refused:
        skipped.append(f"{report.refused} refused")
    if skipped:
        line += " (" + ", ".join(skipped) + ")"
    return f"{line}; at txid {report.position.txid} change {report.position.change_id}"
