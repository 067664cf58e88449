"""Pauses between retries of an operation that failed for a reason outside the event."""

from __future__ import annotations


class Backoff:
    """Growing pauses: `first`, doubling up to `cap`; `reset()` after a success."""

    def __init__(self, first: float = 0.05, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def next(self) -> float:
        """The pause before the next attempt (and double it for the one after)."""
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._next = self._first
