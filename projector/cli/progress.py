"""A line of progress for a long command: redrawn on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class ProgressLine:
    """Shows the latest text on `out` (stderr): at most every `redraw` seconds on a terminal,
    every `every` seconds as its own line elsewhere (a log file, CI), and nothing at all for a
    job that ends before `every` seconds have passed there."""

    def __init__(
        self,
        out: TextIO,
        *,
        every: float = 2.0,
        redraw: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out
        self._tty = out.isatty()
        self._interval = redraw if self._tty else every
        self._clock = clock
        self._last = clock()
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        """Show `text` if it is time to (or `force`, for a phase's last figures on a terminal)."""
        now = self._clock()
        if not (force and self._tty) and now - self._last < self._interval:
            return
        self._last = now
        if self._tty:
            self._out.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._out.write(text + "\n")
        self._out.flush()

    def finish(self) -> None:
        """End a redrawn line, so what follows starts on a line of its own."""
        if self._width:
            self._out.write("\n")
            self._out.flush()
            self._width = 0
