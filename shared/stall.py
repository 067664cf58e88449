"""Stall detection: events wait past the projector's watermark and nothing moves it.

Shared by the API's readiness check and the projector's own sampling: both judge the same
way whether the projector is stalled.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StallVerdict:
    """Whether the projector is stalled, and how long work has waited with no progress."""

    stalled: bool
    watermark: int
    head: int
    waited_seconds: float

    @property
    def reason(self) -> str:
        return (
            f"watermark stuck at {self.watermark} for {self.waited_seconds:.0f}s "
            f"with events waiting up to the store head {self.head}"
        )


class StallDetector:
    """Judges successive (store head, watermark) observations taken at the given times.

    The head is always the event store's own (never the relay's position or another
    intermediate mark): a relay that stopped must count as a stall too. The projector is
    stalled when work has waited longer than `stall_seconds` with no progress: the clock
    starts when events were first seen past the watermark, and restarts whenever the
    watermark moves. An idle spell, however long, counts for nothing: the first burst
    after it starts a fresh clock.
    """

    def __init__(self, stall_seconds: float) -> None:
        self._stall_seconds = stall_seconds
        self._watermark: int | None = None
        self._waiting_since: float | None = None

    def observe(self, head: int, watermark: int, now: float) -> StallVerdict:
        """Record one observation and judge it."""
        moved = watermark != self._watermark  # first sight counts as a move
        self._watermark = watermark
        if head <= watermark:
            self._waiting_since = None  # nothing waits
        elif moved or self._waiting_since is None:
            self._waiting_since = now  # work waits from here on, unless the watermark moves
        waited = 0.0 if self._waiting_since is None else now - self._waiting_since
        stalled = head > watermark and waited >= self._stall_seconds
        return StallVerdict(stalled=stalled, watermark=watermark, head=head, waited_seconds=waited)
