"""Self-healing: notice that Redis lost the read model and rebuild it from the store.

Redis is disposable (a flush, a restart without persistence, a failover to an empty
replica). The store is the truth, so the cure is always a rebuild; the live projector keeps
its messages unacknowledged meanwhile and catches up after the flip.

A watermark behind what the store holds is not a loss by itself, and a needless rebuild of
a large read model costs minutes, so the check tells three cases apart:

- the projector has not caught up yet (events past the watermark, nothing acknowledged
  past it): it will, nothing to do;
- dead letters lie at the watermark's front: they are settled, and the watermark passes
  them here (a dead letter recorded outside the writer, or before it passed them itself);
- the watermark is behind the position the projector acknowledged: Redis lost data, rebuild.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import redis.exceptions

from projector.generations import live_generation
from projector.replay import Rebuild, RebuildInterrupted, ReplaySummary
from projector.writer.watermark import Watermarks
from shared.errors import StoreError
from shared.logs import log_event
from shared.readmodel import keys

log = logging.getLogger("readmodel.healing")

ACKNOWLEDGED_CURSOR = "projector"  # the store cursor where the projector notes what it settled
_LOCK_SECONDS = 600
# Dead letters the watermark passes in one check (more are passed on the next ones).
_PASS_LIMIT = 1000


class Positions(Protocol):
    """Positions after a given one, in order: of the store's events, or of its dead letters."""

    def positions_after(self, position: int, limit: int) -> list[int]: ...


class StoredPositions(Positions, Protocol):
    """The store's events: their positions and the highest one."""

    def head_position(self) -> int: ...


class SelfHealer:
    """Checks on a timer and rebuilds when the read model is gone or behind what was applied."""

    def __init__(
        self,
        redis: Any,
        rebuild: Callable[[], Rebuild],
        acknowledged: Callable[[], int],
        *,
        events: StoredPositions,
        dead_letters: Positions,
        interval: float = 2.0,
        clock: Callable[[], float],
        fresh_redis: bool = False,
        settle: Callable[[Any], object] = lambda cursor: None,
    ) -> None:
        self._redis = redis
        self._rebuild = rebuild
        self._acknowledged = acknowledged
        self._events = events
        self._dead_letters = dead_letters
        self._interval = interval
        self._clock = clock
        self._settle = settle
        self._watermarks = Watermarks(redis)
        # An in-process Redis starts empty with every start: its first build heals nothing.
        self._first_check_builds = fresh_redis

    def diagnose(self) -> str | None:
        """Why the read model must be rebuilt, or None when it need not be."""
        # Read before the watermark: the projector raises the watermark first and then
        # acknowledges, so a watermark read after this is never behind it unless data is lost.
        # No event lies past the store's head: a cursor beyond it (the sentinel an earlier
        # release saved after a rebuild) says nothing about Redis.
        acknowledged = min(self._acknowledged(), self._events.head_position())
        generation = live_generation(self._redis)
        if generation is None:
            return "no live generation (empty or flushed Redis)"
        watermark = self.pass_dead_letters(generation)
        if watermark >= acknowledged:
            return None  # whole, if perhaps behind the store's head: the projector catches up
        if self._rebuild_catching_up(generation):
            return None  # a rebuild flipped to it and is applying what came meanwhile
        return f"watermark {watermark} is behind the acknowledged position {acknowledged} (Redis lost data)"

    def pass_dead_letters(self, generation: str) -> int:
        """Move the watermark past dead letters at its front; returns the watermark."""
        watermark = self._watermarks.read(generation)
        dead = self._dead_letters.positions_after(watermark, _PASS_LIMIT)
        if not dead:
            return watermark
        front = watermark
        for stored, letter in zip(self._events.positions_after(watermark, len(dead)), dead, strict=False):
            if stored != letter:
                break  # an event that is no dead letter: the projector has not caught up
            front = stored
        if front > watermark:
            self._watermarks.raise_to(generation, front)
            log_event(
                log, "watermark passes dead letters", generation=generation, watermark=watermark, to=front
            )
        return front

    def _rebuild_catching_up(self, generation: str) -> bool:
        raw = self._redis.get(keys.REPLAY_POINTER)
        return raw is not None and orjson.loads(raw).get("generation") == generation

    def check_and_heal(self) -> ReplaySummary | None:
        reason = self.diagnose()
        fresh, self._first_check_builds = self._first_check_builds, False
        if reason is None:
            return None
        # Nothing acknowledged and no generation: the read model was never built, nothing was lost.
        first_build = (fresh or self._acknowledged() == 0) and live_generation(self._redis) is None
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
            # Released also when the rebuild is interrupted: the next start resumes it at once.
            if self._redis.get(keys.HEAL_LOCK) == token.encode():
                self._redis.delete(keys.HEAL_LOCK)
        # The new generation holds the store up to the rebuild's cursor: noted as settled, a
        # later loss of Redis is told from a first start, and a relay resumes there.
        self._settle(summary.cursor)
        if not first_build:  # what `status` and the status page show as the last self-heal
            self._redis.hset(
                keys.HEAL_RECORD,
                mapping={"reason": reason, "at": str(self._clock()), "generation": summary.generation},
            )
        log.log(
            logging.INFO if first_build else logging.WARNING,
            "read model %s%s: %d events in %.1fs into generation %s",
            "built" if first_build else "rebuilt",
            " (resumed)" if summary.resumed else "",
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
            except RebuildInterrupted:
                log.info("the rebuild stopped with the process; the next start resumes it")
                return
            except (redis.exceptions.RedisError, StoreError) as exc:  # an outage: the next tick retries
                log.warning("self-heal check failed (%s); retrying", exc)
            except Exception:
                log.exception("self-heal check failed; retrying")
            stop.wait(self._interval)
