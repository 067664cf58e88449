"""Rebuilding the read model from the store into a new generation, then flipping to it.

The live generation keeps serving (and the live projector keeps writing to it) while the
rebuild folds the store into a generation beside it. The rebuild reads settled events only
(the relay's no-skip rule), checkpoints after every batch so it can resume after a crash,
flips the live pointer in one command once it has caught up, catches up once more so that
nothing applied to the old generation just before the flip is missing, and then deletes
the old generation in small UNLINK batches.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson

from projector.bulk_build import (
    BuildJob,
    InProcess,
    LiveWriter,
    OwnerReads,
    Segment,
    SegmentBuilders,
    Written,
    segments_between,
)
from projector.generations import live_generation, new_generation_id
from shared.errors import ReadModelError
from shared.events import StoredEvent
from shared.logs import log_event
from shared.readmodel import keys
from shared.readmodel.cluster_reads import POINTER_TTL
from shared.readmodel.connection import is_cluster

log = logging.getLogger("readmodel.replay")
# Below this many events in the store a rebuild folds in its own process: starting worker
# processes (a second or two each) would cost more than they save.
PARALLEL_FROM = 100_000
# How often a rebuild looks again while older transactions hold the settled horizon back.
_SETTLE_POLL_SECONDS = 0.2

_FLIP_SCRIPT = """
-- Make ARGV[1] live only if it is not behind the live generation's watermark, so a reader
-- never sees X-Readmodel-Position go backwards across the flip. The pointer and every
-- generation's watermark share the {meta} hash tag: one slot, also on a Redis Cluster.
local live = redis.call('GET', KEYS[1])
if live then
  local old = tonumber(redis.call('GET', 'rm:' .. live .. ':{meta}:wm') or '0')
  local new = tonumber(redis.call('GET', 'rm:' .. ARGV[1] .. ':{meta}:wm') or '0')
  if new < old then return {'behind', tostring(old)} end
end
redis.call('SET', KEYS[1], ARGV[1])
return {'flipped', live or ''}
"""


class RebuildInterrupted(ReadModelError):
    """The rebuild was asked to stop; its checkpoint is saved and the next run resumes there."""

    def __init__(self) -> None:
        super().__init__("the rebuild was interrupted; the next `readmodel replay` resumes it")


class SettledReader(OwnerReads, Protocol):
    """The part of the event store a rebuild reads."""

    def read_settled(self, after: Any, limit: int) -> list[tuple[Any, StoredEvent]]: ...

    def settled_horizon(self) -> Any: ...

    def settle_mark(self) -> int | None: ...

    def settled_through(self, mark: int | None) -> bool: ...

    def read_owner(
        self, owner: str, horizon: Any, after: tuple[str, int] | None, limit: int
    ) -> list[StoredEvent]: ...

    def count(self) -> int: ...

    def owner_splits(self, parts: int) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a rebuild stands, for progress bars, logs and status."""

    generation: str
    events: int
    total: int
    position: int
    seconds: float
    phase: str

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class ProgressLog:
    """A rebuild's progress as a `rebuild progress` log line every few seconds (and its end)."""

    def __init__(self, *, every: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._last: float | None = None

    def __call__(self, progress: Progress) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._every and progress.events < progress.total:
            return
        self._last = now
        log_event(
            log,
            "rebuild progress",
            generation=progress.generation,
            phase=progress.phase,
            events=progress.events,
            total=progress.total,
            events_per_second=round(progress.rate),
        )


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    generation: str
    previous: str | None
    events: int
    seconds: float
    peak_rss_mb: float
    resumed: bool
    cursor: Any = None  # the settled cursor the new generation reflects

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "previous": self.previous,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "resumed": self.resumed,
        }


class Rebuild:
    """One rebuild of the whole read model; resumable from its checkpoint in Redis."""

    def __init__(
        self,
        store: SettledReader,
        redis: Any,
        *,
        batch_size: int = 2000,
        on_progress: Callable[[Progress], None] | None = None,
        cursor_factory: Callable[[int | None, int], Any],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
        builders: SegmentBuilders | None = None,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        self._store = store
        # Who builds the bulk phase's segments: worker processes (`builders`) for a store of
        # `parallel_from` events or more, this process otherwise.
        self._in_process = InProcess(store, redis)
        self._builders: SegmentBuilders = builders or self._in_process
        self._parallel_from = parallel_from
        self._redis = redis
        self._batch_size = batch_size
        self._on_progress = on_progress or (lambda _: None)
        self._cursor_factory = cursor_factory
        self._clock = clock
        # Set by a stopping process: the rebuild ends after the batch in hand (checkpointed),
        # raising RebuildInterrupted, and the next run resumes from there.
        self._stop = stop or threading.Event()
        self._sleep = sleep or self._stop.wait
        self._flip = redis.register_script(_FLIP_SCRIPT)
        # Readers on a cluster keep the pointer they read for a while (cluster_reads.py):
        # the old generation stays whole until none can still be reading it.
        self._grace = 2 * POINTER_TTL if is_cluster(redis) else 0.0

    def run(self, *, restart: bool = False) -> ReplaySummary:
        started = self._clock()
        self._delete_retired()
        if restart:
            self.discard_unfinished()
        checkpoint, resumed = self._begin()
        generation = checkpoint["generation"]
        total = self._store.count()
        if checkpoint["phase"] == "bulk":
            self._bulk(checkpoint, total, started)
        previous: str | None = None
        self._catch_up(checkpoint, total, started, "catching up")
        self._wait_for_older_transactions(checkpoint, total, started)
        for _ in range(100):
            self._stop_point()
            status, detail = self._try_flip(generation)
            if status == "flipped":
                previous = detail or None
                flipped_at = self._clock()
                break
            self._catch_up(checkpoint, total, started, "catching up")
        else:
            raise RuntimeError("the rebuild could not catch up with the live generation")
        # Events applied to the old generation just before the flip may not have been
        # settled when we last read: read once more, now into the live generation.
        self._catch_up(checkpoint, total, started, "after flip")
        self._redis.delete(keys.REPLAY_POINTER)
        if previous and previous != generation:
            self._redis.sadd(keys.RETIRED, previous)
            self._sleep(max(0.0, flipped_at + self._grace - self._clock()))
            self._delete_retired()
        self._retire_earlier_layouts()
        seconds = self._clock() - started
        return ReplaySummary(
            generation=generation,
            previous=previous,
            events=int(checkpoint["events"]),
            seconds=seconds,
            cursor=self._cursor_factory(checkpoint["txid"], checkpoint["position"]),
            peak_rss_mb=peak_rss_mb(),
            resumed=resumed,
        )

    def _wait_for_older_transactions(self, checkpoint: dict[str, Any], total: int, started: float) -> None:
        """Read on until every event committed before the rebuild began has been applied.

        The rebuild reads settled events only, and a transaction left open anywhere on the
        store's server holds the settled horizon back: without this wait, a rebuild started
        meanwhile would find nothing past it and flip (unguarded when no generation is live)
        to a read model missing events that were committed before it started.
        """
        mark = checkpoint.get("mark")
        waited = False
        while not self._store.settled_through(mark):
            self._stop_point()
            if not waited:
                log.warning("rebuild waits for transactions older than itself to end (one is still open)")
                waited = True
            self._report(
                checkpoint["generation"],
                checkpoint["events"],
                total,
                checkpoint["position"],
                started,
                "waiting for transactions",
            )
            self._sleep(_SETTLE_POLL_SECONDS)
            self._catch_up(checkpoint, total, started, "catching up")
        if waited:
            self._catch_up(checkpoint, total, started, "catching up")

    def _delete_retired(self) -> None:
        """Delete the old generations flips left behind; a stop leaves the rest for next time."""
        live = live_generation(self._redis)
        for raw in self._redis.smembers(keys.RETIRED):
            generation = raw.decode()
            if generation == live:  # never, but a live generation is never deleted
                self._redis.srem(keys.RETIRED, raw)
                continue
            if not delete_generation(self._redis, generation, stop=self._stop):
                return
            self._redis.srem(keys.RETIRED, raw)

    def _retire_earlier_layouts(self) -> None:
        """A read model written by an earlier key layout is dead weight once this one is live."""
        for pointer in keys.LEGACY_POINTERS:
            raw = self._redis.get(pointer)
            if raw is None:
                continue
            named = raw.decode()
            if named.startswith("{"):  # a rebuild's checkpoint names its generation
                named = str(orjson.loads(named).get("generation", ""))
            if named:
                delete_generation(self._redis, named)
            self._redis.delete(pointer)

    def discard_unfinished(self) -> None:
        """Drop an unfinished rebuild's generation (never the live one)."""
        checkpoint = self._checkpoint()
        self._redis.delete(keys.REPLAY_POINTER)
        if checkpoint and checkpoint["generation"] != live_generation(self._redis):
            delete_generation(self._redis, checkpoint["generation"])

    def _checkpoint(self) -> dict[str, Any] | None:
        raw = self._redis.get(keys.REPLAY_POINTER)
        return None if raw is None else orjson.loads(raw)

    def _begin(self) -> tuple[dict[str, Any], bool]:
        checkpoint = self._checkpoint()
        if checkpoint and checkpoint["generation"] != live_generation(self._redis):
            return checkpoint, True
        horizon = self._store.settled_horizon()
        checkpoint = {
            "generation": new_generation_id(),
            # Bulk: every event settled now, read owner by owner so that each entity's
            # events arrive together and its documents are rendered once.
            "phase": "bulk",
            "group": None,  # the owner being read; None: none yet
            "after": None,  # (stream, version) read last in that group
            # Then the tail: events settled after the horizon, in the relay's order.
            "txid": horizon.txid,
            "position": horizon.position,
            # Every event committed before now: read before flipping (a store that holds
            # transactions open could otherwise hide some of them from the whole rebuild).
            "mark": self._store.settle_mark(),
            "events": 0,
        }
        self._save(checkpoint)
        return checkpoint, False

    def _save(self, checkpoint: dict[str, Any]) -> None:
        self._redis.set(keys.REPLAY_POINTER, orjson.dumps(checkpoint))

    def _bulk(self, checkpoint: dict[str, Any], total: int, started: float) -> None:
        generation = checkpoint["generation"]
        horizon = self._cursor_factory(checkpoint["txid"], checkpoint["position"])
        if checkpoint["group"] != "":
            segments = self._segments(checkpoint, total)
            job = BuildJob(generation, horizon, self._batch_size)
            builders = self._builders if len(segments) > 1 else self._in_process
            builders.run(
                job, segments, _Checkpointing(self, checkpoint, segments, total, started), self._stop
            )
            self._stop_point()
            checkpoint["group"], checkpoint["after"] = "", None
            self._save(checkpoint)
        live = LiveWriter(self._redis, self._store, generation)
        # Last, the rows written around the append, which have no owner yet (""): the live
        # writer finds their owners and fills what they miss.
        after = None if checkpoint["after"] is None else tuple(checkpoint["after"])
        while True:
            self._stop_point()
            page = self._store.read_owner("", horizon, after, self._batch_size)
            if page:
                live(page)
                checkpoint["after"] = [page[-1].event.stream, page[-1].event.version]
                self.advance(checkpoint, len(page), page[-1].position, total, started)
            if len(page) < self._batch_size:
                break
            after = (page[-1].event.stream, page[-1].event.version)
        checkpoint["phase"] = "tail"
        self._save(checkpoint)

    def _segments(self, checkpoint: dict[str, Any], total: int) -> list[Segment]:
        """The segments of the owner index the bulk phase builds, as the checkpoint has them;
        cut anew, one per worker, when it has none."""
        if "segments" in checkpoint:
            return [Segment.from_json(data) for data in checkpoint["segments"]]
        group, after = checkpoint["group"], checkpoint["after"]
        if group is not None:  # the checkpoint of a rebuild that read owner by owner
            reached = None if after is None else (group, after[0], after[1])
            segments = [Segment(None if reached else group, None, reached)]
        else:
            workers = self._builders.workers if total >= self._parallel_from else 1
            segments = segments_between(self._store.owner_splits(workers))
        checkpoint["segments"] = [segment.to_json() for segment in segments]
        self._save(checkpoint)
        return segments

    def advance(
        self, checkpoint: dict[str, Any], count: int, position: int, total: int, started: float
    ) -> None:
        """Save the checkpoint, `count` more events written, and report progress."""
        checkpoint["events"] += count
        self._save(checkpoint)
        self._report(checkpoint["generation"], checkpoint["events"], total, position, started, "building")

    def _report(
        self, generation: str, done: int, total: int, position: int, started: float, phase: str
    ) -> None:
        self._on_progress(
            Progress(
                generation=generation,
                events=done,
                total=max(total, done),
                position=position,
                seconds=self._clock() - started,
                phase=phase,
            ),
        )

    def _catch_up(self, checkpoint: dict[str, Any], total: int, started: float, phase: str) -> None:
        """Apply the settled events after the checkpoint's cursor, moving the checkpoint along."""
        generation = checkpoint["generation"]
        live = LiveWriter(self._redis, self._store, generation)
        cursor = self._cursor_factory(checkpoint["txid"], checkpoint["position"])
        while True:
            self._stop_point()
            page = self._store.read_settled(cursor, self._batch_size)
            if not page:
                return
            live([stored for _, stored in page])
            cursor = page[-1][0]
            checkpoint |= {"txid": cursor.txid, "position": cursor.position}
            checkpoint["events"] += len(page)
            self._save(checkpoint)
            self._report(generation, checkpoint["events"], total, page[-1][1].position, started, phase)
            if len(page) < self._batch_size:
                return

    def _stop_point(self) -> None:
        """Between batches (each one checkpointed): end here if the process is stopping."""
        if self._stop.is_set():
            raise RebuildInterrupted

    def _try_flip(self, generation: str) -> tuple[str, str]:
        status, detail = self._flip(keys=[keys.LIVE_POINTER], args=[generation])
        return status.decode(), detail.decode()


class _Checkpointing:
    """Saves the bulk phase's checkpoint as its segments move on, and reports progress."""

    def __init__(
        self,
        rebuild: Rebuild,
        checkpoint: dict[str, Any],
        segments: list[Segment],
        total: int,
        started: float,
    ) -> None:
        self._rebuild = rebuild
        self._checkpoint = checkpoint
        self._segments = segments
        self._total = total
        self._started = started

    def written(self, index: int, written: Written) -> None:
        segment = self._segments[index]
        self._segments[index] = replace(segment, reached=written.reached or segment.reached)
        self._checkpoint["segments"] = [segment.to_json() for segment in self._segments]
        self._rebuild.advance(self._checkpoint, written.events, written.position, self._total, self._started)

    def done(self, index: int) -> None:
        self._segments[index] = replace(self._segments[index], done=True)
        self._checkpoint["segments"] = [segment.to_json() for segment in self._segments]
        self._rebuild.advance(self._checkpoint, 0, 0, self._total, self._started)


def delete_generation(
    redis: Any, generation: str, *, batch: int = 500, stop: threading.Event | None = None
) -> bool:
    """Delete every key of a generation with SCAN and UNLINK in small batches; False when
    `stop` was set before the last of them went."""
    pending: list[bytes] = []
    for key in redis.scan_iter(match=keys.generation_pattern(generation), count=batch):
        pending.append(key)
        if len(pending) >= batch:
            if stop is not None and stop.is_set():
                return False
            redis.unlink(*pending)
            pending.clear()
    if pending:
        if stop is not None and stop.is_set():
            return False
        redis.unlink(*pending)
    return True


def peak_rss_mb() -> float:
    """The peak resident memory of this process or of the largest of its ended children (a
    rebuild's workers), in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
