"""Stall detection: the store's head moves on while the projector's watermark stands still."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StallVerdict:
    """Whether the projector is stalled, and since when the watermark has not moved."""

    stalled: bool
    watermark: int
    head: int
    stuck_seconds: float

    @property
    def reason(self) -> str:
        return (
            f"watermark stuck at {self.watermark} for {self.stuck_seconds:.0f}s "
            f"while the store head moved to {self.head}"
        )


class StallDetector:
    """Judges successive (store head, watermark) observations taken at the given times.

    The head is always the event store's own (never the relay's position or another
    intermediate mark): a relay that stopped must count as a stall too. The projector is
    stalled when there are events past the watermark and the watermark has not moved for
    `stall_seconds`. An idle system (head == watermark) is never stalled, however long
    nothing happens.
    """

    def __init__(self, stall_seconds: float) -> None:
        self._stall_seconds = stall_seconds
        self._watermark: int | None = None
        self._since = 0.0

    def observe(self, head: int, watermark: int, now: float) -> StallVerdict:
        """Record one observation and judge it."""
        if self._watermark is None or watermark != self._watermark:
            # First sight, or progress (a rebuild's flip may also move it): the clock restarts.
            self._watermark, self._since = watermark, now
        stuck = now - self._since
        stalled = head > watermark and stuck >= self._stall_seconds
        return StallVerdict(stalled=stalled, watermark=watermark, head=head, stuck_seconds=stuck)
