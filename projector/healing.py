"""Self-healing: notice that Redis lost the read model and rebuild it from the store.

Redis is disposable (a flush, a restart without persistence, a failover to an empty
replica). The store is the truth, so the cure is always a rebuild; the live projector keeps
its messages unacknowledged meanwhile and catches up after the flip.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from projector.generations import live_generation
from projector.replay import Rebuild, ReplaySummary
from shared.readmodel import keys

log = logging.getLogger("readmodel.healing")

ACKNOWLEDGED_CURSOR = "projector"  # the store cursor where the projector notes what it applied
_LOCK_SECONDS = 600


def diagnose(redis: Any, acknowledged: int) -> str | None:
    """Why the read model must be rebuilt, or None when it is whole."""
    generation = live_generation(redis)
    if generation is None:
        return "no live generation (empty or flushed Redis)"
    raw = redis.get(keys.full_key(generation, keys.WATERMARK))
    watermark = 0 if raw is None else int(raw)
    if watermark < acknowledged:
        return f"watermark {watermark} is behind the acknowledged position {acknowledged} (Redis lost data)"
    return None


class SelfHealer:
    """Checks on a timer and rebuilds when the read model is gone or behind what was applied."""

    def __init__(
        self,
        redis: Any,
        rebuild: Callable[[], Rebuild],
        acknowledged: Callable[[], int],
        *,
        interval: float = 2.0,
        clock: Callable[[], float],
        fresh_redis: bool = False,
    ) -> None:
        self._redis = redis
        self._rebuild = rebuild
        self._acknowledged = acknowledged
        self._interval = interval
        self._clock = clock
        # An in-process Redis starts empty with every start: its first build heals nothing.
        self._first_check_builds = fresh_redis

    def check_and_heal(self) -> ReplaySummary | None:
        acknowledged = self._acknowledged()
        reason = diagnose(self._redis, acknowledged)
        fresh, self._first_check_builds = self._first_check_builds, False
        if reason is None:
            return None
        # Nothing acknowledged and no generation: the read model was never built, nothing was lost.
        first_build = (fresh or acknowledged == 0) and live_generation(self._redis) is None
        level = logging.INFO if first_build else logging.WARNING
        token = secrets.token_hex(8)
        if not self._redis.set(keys.HEAL_LOCK, token, nx=True, ex=_LOCK_SECONDS):
            log.info("read model needs a rebuild (%s); another process is rebuilding it", reason)
            return None
        if first_build:
            log.info("building the read model from the store (first start)")
        else:
            log.warning("read model needs a rebuild: %s; rebuilding from the store", reason)
        try:
            summary = self._rebuild().run()
        finally:
            if self._redis.get(keys.HEAL_LOCK) == token.encode():
                self._redis.delete(keys.HEAL_LOCK)
        if not first_build:  # what `status` and the status page show as the last self-heal
            self._redis.hset(
                keys.HEAL_RECORD,
                mapping={"reason": reason, "at": str(self._clock()), "generation": summary.generation},
            )
        log.log(
            level,
            "read model %s: %d events in %.1fs into generation %s",
            "built" if first_build else "rebuilt",
            summary.events,
            summary.seconds,
            summary.generation,
        )
        return summary

    def run(self, stop: threading.Event) -> None:
        """Check now and then every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                self.check_and_heal()
            except Exception:  # a Redis or database outage: try again on the next tick
                log.exception("self-heal check failed; retrying")
            stop.wait(self._interval)
