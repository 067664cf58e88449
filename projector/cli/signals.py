"""Stopping a long-running command: SIGTERM and SIGINT ask it to stop, in every state.

Every wait of a long-running command (a back-off, an idle poll, a rebuild between batches)
waits on the one `Shutdown.requested` event, so a stop takes effect within a moment
whatever the command is doing. A second signal, for a stop that still hangs, exits at once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    """A process's stop request, set by the first SIGTERM or SIGINT (or by the process itself)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signal: int | None = None
        self._callbacks: list[Callable[[], None]] = []

    def on_request(self, callback: Callable[[], None]) -> None:
        """Call `callback` too when the stop is requested (at once if it already is)."""
        self._callbacks.append(callback)
        if self.requested.is_set():
            callback()

    def request(self) -> None:
        """Ask everything watching this shutdown to stop."""
        self.requested.set()
        for callback in self._callbacks:
            callback()

    @property
    def exit_code(self) -> int:
        """The shell's code for the signal that stopped the process (130 for Ctrl-C)."""
        return 128 + (self.signal or signal.SIGINT)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested.is_set() and self.signal is not None:
            os._exit(128 + signum)  # asked twice: whatever still runs is not worth waiting for
        self.signal = signum
        self.request()

    @contextmanager
    def handling_signals(self) -> Iterator[Shutdown]:
        """Within the block (main thread only), SIGTERM and SIGINT request the stop."""
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
