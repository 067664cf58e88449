"""The composition root: how the parts of the write side are put together, in one place.

`readmodel project`, `relay`, `up`, `replay` and `dlq` take their parts from here: the
broker's names and partitions, the one writer (the same on one Redis and on a Redis
Cluster: `RedisProjector` groups its scripts by slot where it must), the dead letters, the
self-healer and the rebuild it runs, the relay and the consumer, each measured when
metrics are given.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from projector.dead_letters.store import DeadLetterStore
from projector.healing import ACKNOWLEDGED_CURSOR, SelfHealer
from projector.replay import PARALLEL_FROM, Progress, ProgressLog, Rebuild
from projector.store import Cursor, EventStore
from projector.writer import RedisProjector

if TYPE_CHECKING:
    from projector.broker.consumer import ProjectorConsumer
    from projector.broker.flow import EventFlow
    from projector.broker.topology import Topology
    from projector.observability.metrics import ProjectorMetrics
    from projector.relay import Relay
    from shared.settings import Settings

# The relay's cursor is saved at most this often: a crash republishes up to that much.
RELAY_SAVE_INTERVAL = 0.5


def topology(
    settings: Settings, names_suffix: str | None = None, *, partitions: int | None = None
) -> Topology:
    """The broker's exchange and queues, their names followed by `.<names_suffix>` if given."""
    from projector.broker.topology import Topology  # kombu is slow to import: only when needed

    count = settings.partitions if partitions is None else partitions
    if names_suffix:
        return Topology.with_suffix(names_suffix, partitions=count)
    return Topology(partitions=count)


def writer(redis: Any, store: EventStore, *, metrics: ProjectorMetrics | None = None) -> Any:
    """The writer of the live generation, measured when `metrics` are given."""
    applier: Any = RedisProjector(redis, store)
    if metrics is not None:
        from projector.observability.metrics import MeasuredApplier

        applier = MeasuredApplier(applier, metrics)
    return applier


def dead_letters(store: EventStore, *, metrics: ProjectorMetrics | None = None) -> Any:
    """The dead-letter table (in the store's database), counted when `metrics` are given."""
    letters: Any = DeadLetterStore(store.engine)
    if metrics is not None:
        from projector.observability.metrics import MeasuredDeadLetters

        letters = MeasuredDeadLetters(letters, metrics)
    return letters


def rebuild(
    store: EventStore,
    redis: Any,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    batch_size: int = 2000,
    settings: Settings | None = None,
    workers: int = 1,
    parallel_from: int = PARALLEL_FROM,
) -> Rebuild:
    """A rebuild of the whole read model into a new generation, then the flip; its bulk
    phase in `workers` processes when the settings name a Redis they can reach (not the
    in-process stand-in) and the store holds `parallel_from` events or more."""
    builders = None
    if settings is not None and workers > 1 and not settings.redis_is_embedded:
        from projector.bulk_workers import WorkerProcesses

        builders = WorkerProcesses(functools.partial(rebuild_clients, settings), workers)
    return Rebuild(
        store,
        redis,
        batch_size=batch_size,
        cursor_factory=Cursor,
        stop=stop,
        on_progress=on_progress,
        builders=builders,
        parallel_from=parallel_from,
    )


def rebuild_clients(settings: Settings) -> tuple[EventStore, Any]:
    """A rebuild worker's own store and Redis client, made in the worker's process."""
    from projector.store import create_engine_for
    from shared.readmodel.connection import connect

    return EventStore(create_engine_for(settings.database_url)), connect(settings.redis_url)


def rebuild_workers() -> int:
    """How many processes a rebuild folds in: one per core (the store and Redis share them)."""
    return max(1, len(os.sched_getaffinity(0)))


def self_healer(
    store: EventStore,
    redis: Any,
    stop: threading.Event,
    *,
    fresh_redis: bool = False,
    settings: Settings | None = None,
) -> SelfHealer:
    """The self-healer of a projector process: rebuilds from `store`, logging its progress and
    ending between batches once `stop` is set (to resume at the next start), in a worker per
    core when `settings` are given. With `fresh_redis` (the embedded Redis of `up`) its first
    build is no self-heal."""
    return SelfHealer(
        redis,
        lambda: rebuild(
            store, redis, stop=stop, on_progress=ProgressLog(), settings=settings, workers=rebuild_workers()
        ),
        lambda: store.load_cursor(ACKNOWLEDGED_CURSOR).position,
        events=store,
        dead_letters=DeadLetterStore(store.engine),
        clock=time.time,
        fresh_redis=fresh_redis,
        # The rebuilt generation holds the store up to the rebuild's cursor: noted as settled.
        settle=lambda cursor: store.advance_cursor(ACKNOWLEDGED_CURSOR, cursor),
    )


def relay(
    broker_url: str,
    store: EventStore,
    topology: Topology,
    *,
    metrics: ProjectorMetrics | None = None,
    batch_size: int = 500,
    idle_interval: float = 0.02,
) -> Relay:
    """The relay: settled events from the store to the partitions of their owners."""
    from projector.broker.connection import connect
    from projector.broker.publisher import Publisher
    from projector.relay import Relay

    publisher: Any = Publisher(connect(broker_url), topology, store)
    if metrics is not None:
        from projector.observability.metrics import MeasuredPublisher

        publisher = MeasuredPublisher(publisher, metrics)
    return Relay(
        store,
        publisher,
        batch_size=batch_size,
        idle_interval=idle_interval,
        save_interval=RELAY_SAVE_INTERVAL,
    )


def consumer(
    broker_url: str,
    store: EventStore,
    redis: Any,
    topology: Topology,
    *,
    metrics: ProjectorMetrics | None = None,
    partitions: Iterable[int] | None = None,
    prefetch_count: int = 500,
    batch_size: int = 500,
) -> ProjectorConsumer:
    """The consumer of `partitions` (default: all), applying through the writer and noting
    what it settled for the self-healer."""
    from projector.broker.connection import connect
    from projector.broker.consumer import CursorCheckpoint, ProjectorConsumer

    return ProjectorConsumer(
        connect(broker_url),
        writer(redis, store, metrics=metrics),
        dead_letters(store, metrics=metrics),
        topology=topology,
        partitions=partitions,
        prefetch_count=prefetch_count,
        batch_size=batch_size,
        checkpoint=CursorCheckpoint(lambda cursor: store.save_cursor(ACKNOWLEDGED_CURSOR, cursor)),
    )


def event_flow(
    settings: Settings,
    store: EventStore,
    redis: Any,
    *,
    names_suffix: str | None = None,
    names: Topology | None = None,
    metrics: ProjectorMetrics | None = None,
) -> EventFlow:
    """The relay and the consumer of one process (`readmodel up`), on `settings.broker_url`:
    by default the in-process memory:// transport, which both threads share. `names` gives
    the broker's names outright (tests keep theirs apart)."""
    from projector.broker.connection import is_durable
    from projector.broker.flow import EventFlow, rewind_relay

    durable = is_durable(settings.broker_url)
    if names is None:
        # In-process there is nothing to scale out, and one queue keeps the checkpoint simple;
        # names matter on a real broker only.
        names = topology(settings, names_suffix if durable else None, partitions=None if durable else 1)
    return EventFlow(
        relay(settings.broker_url, store, names, metrics=metrics),
        consumer(settings.broker_url, store, redis, names, metrics=metrics),
        prepare=None if durable else rewind_relay(store, redis),
    )
