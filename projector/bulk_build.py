"""A rebuild's bulk phase: every settled event, owner by owner, folded in memory, written once.

The store is read in large pages along its owner index, so each owner's events arrive
together, stream by stream. An owner is folded in parts of about a batch (whole streams
where it can) from the states its earlier parts reached, without reading Redis, and each
part's end states are rendered once and written in plain pipelined commands
(`projector/writer/bulk.py`): intermediate states and the records in between are never made.
What needs the live writer's care (an invalid event, a version the store lacks, an owner a
stopped rebuild left half written, whose start only Redis holds) goes through the live writer,
which then keeps the rest of that owner.
"""

from __future__ import annotations

import gc
import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from projector.fold.fresh import OwnerStates, fold_part
from projector.fold.projection import StoreReads
from projector.writer.bulk import BulkWriter
from projector.writer.redis_projector import RedisProjector
from projector.writer.watermark import Watermarks
from shared.events import StoredEvent
from shared.readmodel import keys

# Where the owner index is read from: (owner, stream, version) of the last event read.
IndexKey = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Written:
    """Where a bulk build stands after a write: the last index key it holds, the events
    written since it last said so, and a store position among them (for progress)."""

    reached: IndexKey | None
    events: int
    position: int


class OwnerReads(StoreReads, Protocol):
    def read_owners(
        self,
        horizon: Any,
        after: IndexKey | None,
        limit: int,
        *,
        first: str | None = None,
        before: str | None = None,
    ) -> list[StoredEvent]: ...


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of the owner index one worker builds: owners from `first` to before `before`
    (None: no bound), built up to `reached` (None: not begun), `done` once whole."""

    first: str | None
    before: str | None
    reached: IndexKey | None = None
    done: bool = False

    def to_json(self) -> list[Any]:
        return [self.first, self.before, None if self.reached is None else list(self.reached), self.done]

    @classmethod
    def from_json(cls, data: list[Any]) -> Segment:
        first, before, reached, done = data
        return cls(first, before, None if reached is None else (reached[0], reached[1], reached[2]), done)


def segments_between(splits: Sequence[str]) -> list[Segment]:
    """The segments the owner index falls into, cut at `splits` (in order)."""
    bounds: list[str | None] = [None, *splits, None]
    return [Segment(first, before) for first, before in itertools.pairwise(bounds)]


class LiveWriter:
    """The live writer, for what a bulk build leaves to it; a rebuild records poison in its
    generation (the live projector dead-letters it) and moves on."""

    def __init__(self, redis: Any, store: StoreReads, generation: str) -> None:
        self._redis = redis
        self._generation = generation
        self._projector = RedisProjector(redis, store, generation=generation)

    def __call__(self, events: list[StoredEvent]) -> None:
        result = self._projector.apply(events)
        for poison in result.poison:
            self._redis.hset(
                keys.full_key(self._generation, keys.POISON), str(poison.event.position), poison.reason
            )


class OwnerBuild:
    """Folds and writes the owned events of the store into a fresh generation."""

    def __init__(
        self,
        store: OwnerReads,
        redis: Any,
        generation: str,
        *,
        batch_size: int,
    ) -> None:
        self._store = store
        self._redis = redis
        self._generation = generation
        self._live = LiveWriter(redis, store, generation)
        self._batch_size = batch_size
        self._watermarks = Watermarks(redis)

    def run(self, horizon: Any, segment: Segment) -> Iterator[Written]:
        """Build `segment` on from where it was reached, yielding after each write where it
        stands: a checkpoint, a rebuild may stop there and resume from `Written.reached`."""
        after = segment.reached
        # An owner the rebuild was stopped in: its start is in Redis only.
        half_written = None if after is None else after[0]
        writer = BulkWriter(self._redis, self._generation)
        states, owner, taken_over = OwnerStates(), "", half_written
        reached: IndexKey | None = after
        done, position, at = 0, 0, 0
        for part in self._parts(horizon, segment):
            if part[0].owner != owner:
                states, owner = OwnerStates(), str(part[0].owner)
                reached = (owner, "", 0)  # resumed from here, the owner is half written
            change = None if owner == taken_over else fold_part(part, states, self._store)
            if change is None:
                if owner != taken_over:
                    # Checkpoint first: stopped while the live writer works, the next run
                    # resumes this owner with the live writer, which reads what it wrote.
                    self._write(writer, position)
                    yield Written(reached, done, part[0].position)
                    done, taken_over = 0, owner
                self._live(part)
            else:
                writer.add(change)
                position = max(position, change.position)
            last = part[-1]
            reached, done, at = (
                (owner, last.event.stream, last.event.version),
                done + len(part),
                last.position,
            )
            if done >= self._batch_size:
                self._write(writer, position)
                yield Written(reached, done, at)
                done = 0
        if done and reached is not None:
            self._write(writer, position)
            yield Written(reached, done, at)

    def _write(self, writer: BulkWriter, position: int) -> None:
        writer.flush()
        if position:
            self._watermarks.raise_to(self._generation, position)

    def _parts(self, horizon: Any, segment: Segment) -> Iterator[list[StoredEvent]]:
        """The owners' events in parts: an owner whole, or a long one cut where a stream ends
        once the part holds a batch (mid-stream only past two batches: memory stays bounded)."""
        page_size = max(self._batch_size, 5000)  # one query per page: large ones
        part: list[StoredEvent] = []
        after = segment.reached
        while True:
            page = self._store.read_owners(
                horizon, after, page_size, first=segment.first, before=segment.before
            )
            for stored in page:
                if part and _cuts(part, stored, self._batch_size):
                    yield part
                    part = []
                part.append(stored)
            if len(page) < page_size:
                break
            last = page[-1]
            after = (str(last.owner), last.event.stream, last.event.version)
        if part:
            yield part


def _cuts(part: Sequence[StoredEvent], following: StoredEvent, batch_size: int) -> bool:
    last = part[-1]
    if following.owner != last.owner:
        return True
    if len(part) >= 2 * batch_size:
        return True
    return len(part) >= batch_size and following.event.stream != last.event.stream


@dataclass(frozen=True, slots=True)
class BuildJob:
    """What every segment of one bulk phase is built into and from."""

    generation: str
    horizon: Any  # the store cursor the phase reads up to
    batch_size: int


class BuildProgress(Protocol):
    """Told as the segments' builds move on (by segment index)."""

    def written(self, index: int, written: Written) -> None: ...

    def done(self, index: int) -> None: ...


class SegmentBuilders(Protocol):
    """Builds a rebuild's segments: in this process, or in workers (projector/bulk_workers.py)."""

    @property
    def workers(self) -> int:
        """How many segments it builds at once (how many to cut the owner index into)."""
        ...

    def run(
        self, job: BuildJob, segments: Sequence[Segment], progress: BuildProgress, stop: threading.Event
    ) -> None:
        """Build every segment not done; return with all done, or once `stop` is set and
        every build has ended at a checkpoint."""
        ...


class InProcess:
    """Builds the segments one after another in this process."""

    workers = 1

    def __init__(self, store: OwnerReads, redis: Any) -> None:
        self._store = store
        self._redis = redis

    def run(
        self, job: BuildJob, segments: Sequence[Segment], progress: BuildProgress, stop: threading.Event
    ) -> None:
        build = OwnerBuild(self._store, self._redis, job.generation, batch_size=job.batch_size)
        with fewer_collections():
            for index, segment in enumerate(segments):
                if segment.done:
                    continue
                for written in build.run(job.horizon, segment):
                    progress.written(index, written)
                    if stop.is_set():
                        return
                progress.done(index)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cycle collector run less often meanwhile: a bulk build makes millions of
    short-lived containers without cycles, and passes over them cost about a fifth of its
    CPU (one worker, 60,563 events: 58 µs an event, 47 with these thresholds)."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
