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

    @property
    def build_reason(self) -> str:
        """The reason when no read model is live yet: its build made no progress."""
        return (
            f"no live generation, and no rebuild made progress for {self.waited_seconds:.0f}s "
            f"({self.watermark} events built, the store's head at {self.head})"
        )


def rebuilt_events(checkpoint: dict[str, object] | None) -> int:
    """How many events the rebuild writing the next generation has built (0: none runs).

    While no generation is live, this is what moves instead of the watermark: a build that
    advances is work in progress, not a stall.
    """
    if not checkpoint:
        return 0
    events = checkpoint.get("events", 0)
    return events if isinstance(events, int) else 0


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

    def observe_build(self, head: int, built: int, now: float) -> StallVerdict:
        """Judge a store with no live generation yet, by what its rebuild has `built`.

        Work waits until the flip, even once every event is built (a rebuild that dies
        before flipping is a stall too): the build's count stands in for the watermark and
        never reaches the head.
        """
        return self.observe(head, min(built, head - 1) if head else 0, now)
