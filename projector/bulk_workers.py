"""Building a rebuild's segments in worker processes, one per segment, on every core.

Each worker folds its own run of the owner index with its own store and Redis connections
(`connect`, called in the worker) and writes its owners' keys alone: segments share no
owner, and what one owner writes in another's keys (a workspace's members' entries for it)
are fields of its own. The parent saves every checkpoint a worker reports, so a stop, asked
or by a signal, ends each worker at a checkpoint and the next rebuild resumes every segment.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis.exceptions

from projector.bulk_build import BuildJob, BuildProgress, OwnerBuild, OwnerReads, Segment, fewer_collections
from shared.errors import ReadModelError

# What a worker needs, made inside it: the store and a Redis client. Must pickle (a
# module-level function, or a functools.partial of one).
Connect = Callable[[], tuple[OwnerReads, Any]]
_POLL_SECONDS = 0.2
_JOIN_SECONDS = 60.0


class WorkerFailedError(ReadModelError):
    """A rebuild worker failed; the checkpoints it reported stand, the next rebuild resumes."""


class WorkerProcesses:
    """Builds the segments in `workers` processes at once (started fresh: `spawn`)."""

    def __init__(self, connect: Connect, workers: int) -> None:
        self._connect = connect
        self.workers = workers

    def run(
        self, job: BuildJob, segments: Sequence[Segment], progress: BuildProgress, stop: threading.Event
    ) -> None:
        """Raises WorkerFailedError when a worker failed (the others end at a checkpoint)."""
        context = multiprocessing.get_context("spawn")
        messages: Any = context.Queue()
        halt = context.Event()
        processes = {
            index: context.Process(
                target=build_segment,
                args=(self._connect, job, index, segment, messages, halt),
                name=f"rebuild-{index}",
                daemon=True,
            )
            for index, segment in enumerate(segments)
            if not segment.done
        }
        for process in processes.values():
            process.start()
        running = set(processes)
        failures: list[tuple[str, str]] = []
        try:
            while running:
                if stop.is_set():
                    halt.set()
                try:
                    index, kind, body = messages.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    failures.extend(_vanished(processes, running))
                    continue
                if kind == "written":
                    progress.written(index, body)
                    continue
                running.discard(index)
                if kind == "done":
                    progress.done(index)
                elif kind == "failed":
                    failures.append(body)
                    halt.set()
        finally:
            halt.set()
            _end(processes.values(), messages)
        if failures:
            kind, reason = failures[0]
            if kind == "redis":  # told as this process's own Redis failure would be
                raise redis.exceptions.ConnectionError(reason)
            raise WorkerFailedError(
                f"a rebuild worker failed ({reason}); the next `readmodel replay` resumes it"
            )


def _end(processes: Iterable[Any], messages: Any) -> None:
    """Wait for the workers to end, reading what they still send meanwhile (a worker whose
    messages are not read cannot exit); one that has not ended in time is terminated."""
    deadline = time.monotonic() + _JOIN_SECONDS
    for process in processes:
        while process.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                messages.get(timeout=_POLL_SECONDS)
        if process.is_alive():
            process.terminate()
        process.join()


def _vanished(processes: dict[int, Any], running: set[int]) -> list[tuple[str, str]]:
    """Workers that ended without a word (killed): no longer waited for."""
    gone = [i for i in running if not processes[i].is_alive() and processes[i].exitcode not in (0, None)]
    running.difference_update(gone)
    return [("exit", f"worker {i} exited with code {processes[i].exitcode}") for i in gone]


def build_segment(
    connect: Connect, job: BuildJob, index: int, segment: Segment, messages: Any, halt: Any
) -> None:
    """A worker: build one segment, telling the parent each checkpoint; end at the next
    checkpoint once halted, or once the parent is gone (nobody would save its checkpoints)."""
    parent = os.getppid()
    # The parent has the signals (a terminal's ^C reaches the whole group) and halts us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        store, client = connect()
        build = OwnerBuild(store, client, job.generation, batch_size=job.batch_size)
        gc.freeze()  # what the imports made stays: the collector need not look at it again
        with fewer_collections():
            for written in build.run(job.horizon, segment):
                messages.put((index, "written", written))
                if halt.is_set() or os.getppid() != parent:
                    messages.put((index, "stopped", None))
                    return
        messages.put((index, "done", None))
    except redis.exceptions.RedisError as exc:
        messages.put((index, "failed", ("redis", str(exc))))
    except Exception as exc:  # told to the parent, which raises it
        messages.put((index, "failed", ("error", f"{type(exc).__name__}: {exc}")))
