"""Readiness: Redis answers, a live generation exists, and the projector keeps up with the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.exceptions

from query_api.operations.metrics import ApiMetrics
from query_api.operations.probe import StoreProbe
from shared.errors import StoreError
from shared.readmodel import keys
from shared.stall import StallDetector, rebuilt_events

NOT_READY_MESSAGE = "The read model is not ready to serve."


@dataclass(frozen=True, slots=True)
class ReadModelHead:
    """The live generation and its watermark, as Redis says."""

    live_generation: str | None
    watermark: int


@dataclass(frozen=True, slots=True)
class ReadyReport:
    """The outcome of one readiness check, with the figures it was judged on."""

    reasons: tuple[str, ...]
    live_generation: str | None = None
    watermark: int | None = None
    store_head: int | None = None
    lag_events: int | None = None
    lag_seconds: float | None = None
    stalled: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.reasons

    def figures(self) -> dict[str, Any]:
        return {
            "live_generation": self.live_generation,
            "watermark": self.watermark,
            "store_head": self.store_head,
            "lag_events": self.lag_events,
            "lag_seconds": self.lag_seconds,
            "stalled": self.stalled,
            "notes": list(self.notes),
        }

    def body(self) -> dict[str, Any]:
        """200: `{"ready": true, ...}`; 503: the contract's error shape plus the reasons."""
        if self.ready:
            return {"ready": True, **self.figures()}
        return {
            "code": "not_ready",
            "message": NOT_READY_MESSAGE,
            "status": 503,
            "hint": "; ".join(self.reasons),
            "ready": False,
            "reasons": list(self.reasons),
            **self.figures(),
        }


class Readiness:
    """Judges readiness; the store probe is optional (without it: Redis and the pointer only)."""

    def __init__(
        self,
        redis: Any,
        probe: StoreProbe | None,
        metrics: ApiMetrics,
        *,
        max_lag_seconds: float,
        stall_seconds: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._probe = probe
        self._metrics = metrics
        self._max_lag = max_lag_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._detector = StallDetector(stall_seconds)
        self._lock = threading.Lock()  # the detector's memory is shared by the worker's threads

    def read_head(self) -> ReadModelHead:
        """The live generation and its watermark (one timed round trip, then one more)."""
        started = self._monotonic()
        raw_live = self._redis.get(keys.LIVE_POINTER)
        self._metrics.redis_roundtrip.labels("api").observe(self._monotonic() - started)
        if raw_live is None:
            return ReadModelHead(None, 0)
        live = raw_live.decode()
        raw = self._redis.get(keys.full_key(live, keys.WATERMARK))
        return ReadModelHead(live, 0 if raw is None else int(raw))

    def check(self) -> ReadyReport:
        """One readiness judgement; sets the ready and stalled gauges as it goes."""
        report = self._judge()
        self._metrics.ready.set(1 if report.ready else 0)
        return report

    def _judge(self) -> ReadyReport:
        try:
            head = self.read_head()
        except redis.exceptions.RedisError as exc:
            return ReadyReport(reasons=(f"redis unreachable ({type(exc).__name__})",))
        if head.live_generation is None:
            return self._not_built()
        if self._probe is None:
            self._metrics.set_stalled([])
            return ReadyReport(
                reasons=(),
                live_generation=head.live_generation,
                watermark=head.watermark,
                notes=("no store probe: lag and stalls are not judged here",),
            )
        try:
            store_head = self._probe.head()
            recorded = self._probe.recorded_after(head.watermark) if store_head > head.watermark else None
        except StoreError as exc:
            self._metrics.set_stalled([])
            return ReadyReport(
                reasons=(),
                live_generation=head.live_generation,
                watermark=head.watermark,
                notes=(f"store unreachable ({type(exc).__name__}): lag not judged",),
            )
        now = self._clock()
        lag_seconds = 0.0 if recorded is None else max(0.0, now - recorded.timestamp())
        with self._lock:
            verdict = self._detector.observe(store_head, head.watermark, self._monotonic())
        reasons: list[str] = []
        if verdict.stalled:
            reasons.append(f"projector stalled: {verdict.reason}")
        if lag_seconds > self._max_lag:
            reasons.append(f"lag {lag_seconds:.1f}s is over the {self._max_lag:g}s limit")
        self._metrics.set_stalled(["watermark_stuck"] if verdict.stalled else [])
        return ReadyReport(
            reasons=tuple(reasons),
            live_generation=head.live_generation,
            watermark=head.watermark,
            store_head=store_head,
            lag_events=max(0, store_head - head.watermark),
            lag_seconds=round(lag_seconds, 3),
            stalled=verdict.stalled,
        )

    def _not_built(self) -> ReadyReport:
        """No live generation: not ready; stalled only when its build makes no progress.

        A first start or a self-heal builds the read model for as long as the store takes:
        that is work in progress (the rebuild's checkpoint counts what it built), not a
        stall, and a dashboard watching the stalled gauge must not light up for it.
        """
        reasons = ["no live generation (the read model is not built yet)"]
        store_head: int | None = None
        stalled = False
        if self._probe is not None:
            try:
                store_head = self._probe.head()
                raw = self._redis.get(keys.REPLAY_POINTER)
            except (StoreError, redis.exceptions.RedisError):
                store_head = None
            else:
                checkpoint = None if raw is None else orjson.loads(raw)
                built = rebuilt_events(checkpoint if isinstance(checkpoint, dict) else None)
                with self._lock:
                    verdict = self._detector.observe_build(store_head, built, self._monotonic())
                stalled = verdict.stalled
                if stalled:
                    reasons.append(f"projector stalled: {verdict.build_reason}")
        self._metrics.set_stalled(["no_live_generation"] if stalled else [])
        return ReadyReport(reasons=tuple(reasons), store_head=store_head, stalled=stalled)
