"""Building a rebuild's segments in worker processes, one per segment, on every core.

Each worker folds its own run of the owner index with its own store and Redis connections
(`connect`, called in the worker) and writes its owners' keys alone: segments share no
owner, and what one owner writes in another's keys (a workspace's members' entries for it)
are fields of its own. The parent saves every checkpoint a worker reports, so a stop, asked
or by a signal, ends each worker at a checkpoint and the next rebuild resumes every segment.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from projector.bulk_build import BuildJob, BuildProgress, OwnerBuild, OwnerReads, Segment
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
        failures: list[str] = []
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
            for process in processes.values():
                process.join(_JOIN_SECONDS)
                if process.is_alive():
                    process.terminate()
        if failures:
            raise WorkerFailedError(
                f"a rebuild worker failed ({failures[0]}); the next `readmodel replay` resumes the rebuild"
            )


def _vanished(processes: dict[int, Any], running: set[int]) -> list[str]:
    """Workers that ended without a word (killed): no longer waited for."""
    gone = [i for i in running if not processes[i].is_alive() and processes[i].exitcode not in (0, None)]
    running.difference_update(gone)
    return [f"worker {i} exited with code {processes[i].exitcode}" for i in gone]


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
        store, redis = connect()
        build = OwnerBuild(store, redis, job.generation, batch_size=job.batch_size)
        for written in build.run(job.horizon, segment):
            messages.put((index, "written", written))
            if halt.is_set() or os.getppid() != parent:
                messages.put((index, "stopped", None))
                return
        messages.put((index, "done", None))
    except Exception as exc:  # told to the parent, which raises it
        messages.put((index, "failed", f"{type(exc).__name__}: {exc}"))
