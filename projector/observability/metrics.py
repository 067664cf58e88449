"""Metrics of the relay, projector and replay side, and the small HTTP listener that serves them.

Counters move through decorators around the parts the processes already compose (the
relay's publisher, the consumer's writer and its dead-letter sink), so the parts themselves
stay free of metrics code. Gauges (positions, lag, dead letters, a replay's progress) are
sampled from the store and Redis every few seconds, which also writes one progress log line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import redis.exceptions
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from projector.broker.batch import Applier, DeadLetterSink
from projector.dead_letters.records import DeadLetter
from projector.dead_letters.store import DeadLetterStore
from projector.relay import RELAY_CURSOR, EventPublisher
from projector.status_report import read_model_status
from projector.store import Cursor, EventStore
from projector.writer import BatchResult
from shared.errors import StoreError
from shared.events import StoredEvent
from shared.logs import log_event
from shared.settings import Settings
from shared.stall import StallDetector, rebuilt_events

log = logging.getLogger("readmodel.metrics")

APPLY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
STALL_REASONS = ("watermark_stuck", "no_live_generation")
UNKNOWN_TYPE = "unknown"  # a dead letter whose body never decoded into an event


class ProjectorMetrics:
    """Every metric of the relay/projector processes, on one registry.

    The gauges say how to merge across processes (`mostrecent`) for `readmodel up` under
    granian, where the API workers' /metrics reads this process's values from shared files.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        by_type = ("type",)
        self.relayed = Counter(
            "readmodel_events_relayed_total", "Events published to the broker.", by_type, registry=registry
        )
        self.applied = Counter(
            "readmodel_events_applied_total", "Events applied to Redis.", by_type, registry=registry
        )
        self.duplicated = Counter(
            "readmodel_events_duplicated_total",
            "Events delivered again and found already applied (no-ops).",
            by_type,
            registry=registry,
        )
        self.copied = Counter(
            "readmodel_events_copied_total",
            "Events applied only for owners keeping a copy of them (their own owner is another partition's).",
            by_type,
            registry=registry,
        )
        self.gap_filled = Counter(
            "readmodel_events_gap_filled_total",
            "Events read from the store to fill a stream's version gap before applying.",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "readmodel_events_dead_lettered_total", "Dead letters recorded.", by_type, registry=registry
        )
        self.apply_seconds = Histogram(
            "readmodel_apply_batch_seconds",
            "Applying one batch to Redis (fold plus the writer's round trips).",
            buckets=APPLY_BUCKETS,
            registry=registry,
        )
        self.redis_roundtrip = Histogram(
            "readmodel_redis_roundtrip_seconds",
            "Redis round trips timed by the process (PING on every sample).",
            ("process",),
            buckets=REDIS_BUCKETS,
            registry=registry,
        )
        self.store_head = Gauge(
            "readmodel_store_head_position",
            "The event store's head position.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.watermark = Gauge(
            "readmodel_projector_watermark",
            "The live generation's watermark.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.relay_position = Gauge(
            "readmodel_relay_position",
            "The relay's saved cursor.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.lag_events = Gauge(
            "readmodel_projector_lag_events",
            "Store head minus the watermark.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.lag_seconds = Gauge(
            "readmodel_projector_lag_seconds",
            "Age of the oldest event the projector has not applied.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.relay_lag = Gauge(
            "readmodel_relay_lag_events",
            "Store head minus the relay's cursor.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.dead_letters = Gauge(
            "readmodel_dead_letters",
            "Dead letters waiting in the store.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.replay_running = Gauge(
            "readmodel_replay_in_progress",
            "1 while a rebuild writes a new generation.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.replay_events = Gauge(
            "readmodel_replay_events",
            "Events the running rebuild has folded so far.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.replay_progress = Gauge(
            "readmodel_replay_progress_ratio",
            "The running rebuild's events over the store's head (0..1).",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.stalled = Gauge(
            "readmodel_projector_stalled",
            "1 while the projector is judged stalled for this reason (store head moving, watermark not).",
            ("reason",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        for reason in STALL_REASONS:
            self.stalled.labels(reason).set(0)

    def count(self, counter: Counter, events: Sequence[StoredEvent]) -> None:
        """Add each event to `counter` under its type (one inc per type, not per event)."""
        by_type: dict[str, int] = {}
        for stored in events:
            by_type[stored.event.type] = by_type.get(stored.event.type, 0) + 1
        for event_type, amount in by_type.items():
            counter.labels(event_type).inc(amount)

    def set_stalled(self, reasons: Sequence[str]) -> None:
        for reason in STALL_REASONS:
            self.stalled.labels(reason).set(1 if reason in reasons else 0)


def new_projector_metrics() -> ProjectorMetrics:
    """Metrics on a registry of their own."""
    # No `_created` series: one per counter and histogram child, read by no dashboard here.
    disable_created_metrics()
    return ProjectorMetrics(CollectorRegistry(auto_describe=True))


# --- counting decorators ---------------------------------------------------------------------


class MeasuredPublisher:
    """The relay's publisher, counting what the broker confirmed."""

    def __init__(self, inner: EventPublisher, metrics: ProjectorMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def publish(self, batch: Sequence[tuple[Cursor, StoredEvent]]) -> None:
        self._inner.publish(batch)
        self._metrics.count(self._metrics.relayed, [stored for _, stored in batch])

    def reset(self) -> None:
        self._inner.reset()


class MeasuredApplier:
    """The consumer's writer, counting applied, duplicate and gap-filled events and timing batches."""

    def __init__(
        self, inner: Applier, metrics: ProjectorMetrics, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._clock = clock

    def apply(
        self, events: Sequence[StoredEvent], owners: Mapping[int, Sequence[str]] | None = None
    ) -> BatchResult:
        started = self._clock()
        result = self._inner.apply(events, owners)
        metrics = self._metrics
        metrics.apply_seconds.observe(self._clock() - started)
        metrics.count(metrics.applied, result.applied)
        metrics.count(metrics.duplicated, result.duplicates)
        metrics.count(metrics.copied, result.copied)
        if result.gap_filled:
            metrics.gap_filled.inc(result.gap_filled)
        return result


class MeasuredDeadLetters:
    """The dead-letter sink, counting each letter recorded by its event type."""

    def __init__(self, inner: DeadLetterSink, metrics: ProjectorMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def record(self, letters: Sequence[DeadLetter], *, count_attempts: bool = True) -> None:
        self._inner.record(letters, count_attempts=count_attempts)
        for letter in letters:
            self._metrics.dead_lettered.labels(letter.type or UNKNOWN_TYPE).inc()


# --- sampling ---------------------------------------------------------------------------------


class DeadLetterCount(Protocol):
    def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampling's figures, as logged."""

    figures: dict[str, Any]
    stalled: bool


class ProgressSampler:
    """Every `interval` seconds: positions, lag, dead letters and replay into gauges, one log line.

    Without Redis (the relay's process) it samples the store's head and the relay's cursor only.
    """

    def __init__(
        self,
        store: EventStore,
        metrics: ProjectorMetrics,
        *,
        redis: Any = None,
        dead_letters: DeadLetterCount | None = None,
        stall_seconds: float = 30.0,
        interval: float = 10.0,
        process: str = "projector",
        counters: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._redis = redis
        self._dead_letters = dead_letters
        self._detector = StallDetector(stall_seconds)
        self._interval = interval
        self._process = process
        self._counters = counters
        self._clock = clock
        self._monotonic = monotonic

    def sample(self) -> Sample:
        """Take one sample: set the gauges and log the figures."""
        metrics = self._metrics
        figures: dict[str, Any]
        stalled = False
        if self._redis is None:
            head = self._store.head_position()
            relay = self._store.load_cursor(RELAY_CURSOR).position
            figures = {"store_head": head, "relay_position": relay, "relay_lag_events": max(0, head - relay)}
        else:
            started = self._monotonic()
            self._redis.ping()
            metrics.redis_roundtrip.labels(self._process).observe(self._monotonic() - started)
            figures = read_model_status(self._store, self._redis, now=self._clock())
            stalled = self._judge_stall(figures)
        metrics.store_head.set(figures["store_head"])
        metrics.relay_position.set(figures["relay_position"])
        metrics.relay_lag.set(figures["relay_lag_events"])
        if self._dead_letters is not None:
            figures["dead_letters"] = self._dead_letters.count()
            metrics.dead_letters.set(figures["dead_letters"])
        if self._counters is not None:
            figures |= self._counters()
        log_event(log, "progress", process=self._process, stalled=stalled, **figures)
        return Sample(figures, stalled)

    def _judge_stall(self, figures: dict[str, Any]) -> bool:
        metrics = self._metrics
        metrics.watermark.set(figures["watermark"])
        metrics.lag_events.set(figures["lag_events"])
        metrics.lag_seconds.set(figures["lag_seconds"])
        replay = figures.get("replay_in_progress")
        metrics.replay_running.set(1 if replay else 0)
        done = rebuilt_events(replay)
        metrics.replay_events.set(done)
        head = figures["store_head"]
        metrics.replay_progress.set(min(1.0, done / head) if replay and head else 0.0)
        if figures["live_generation"] is None:
            # Not built yet (a first start, a self-heal): stalled only when the build that
            # should make it makes no progress for the stall window, or none runs.
            verdict = self._detector.observe_build(head, done, self._monotonic())
            label, reason = "no_live_generation", verdict.build_reason
        else:
            verdict = self._detector.observe(head, figures["watermark"], self._monotonic())
            label, reason = "watermark_stuck", verdict.reason
        metrics.set_stalled([label] if verdict.stalled else [])
        if verdict.stalled:
            log_event(log, "projector stalled", level=logging.WARNING, reason=reason)
        return verdict.stalled

    def run(self, stop: threading.Event) -> None:
        """Sample now and then every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                self.sample()
            except (redis.exceptions.RedisError, StoreError) as exc:  # an outage: the next tick retries
                log_event(
                    log, "sampling the read model's figures failed", level=logging.WARNING, error=str(exc)
                )
            except Exception:
                log.exception("sampling the read model's figures failed")
            stop.wait(self._interval)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run in a daemon thread."""
        thread = threading.Thread(target=self.run, args=(stop,), name="readmodel-metrics", daemon=True)
        thread.start()
        return thread


# --- the listener -----------------------------------------------------------------------------


class MetricsListener:
    """A running /metrics HTTP listener; `stop()` closes it."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_metrics_listener(registry: CollectorRegistry, host: str, port: int) -> MetricsListener | None:
    """Serve `registry` at http://host:port/metrics; None when `port` is 0 or cannot be bound.

    A busy port is logged, not fatal: the process's work matters more than its metrics.
    """
    if port == 0:
        return None
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log_event(
            log, "metrics listener not started", level=logging.WARNING, host=host, port=port, error=str(exc)
        )
        return None
    log_event(log, "metrics listener started", host=host, port=int(server.server_address[1]))
    return MetricsListener(server, thread)


# --- wiring for the long-running commands -----------------------------------------------------


@contextmanager
def observed(
    args: Any,
    settings: Settings,
    metrics: ProjectorMetrics,
    *,
    store: EventStore,
    redis: Any = None,
    dead_letters: DeadLetterCount | None = None,
    process: str,
    counters: Callable[[], Mapping[str, Any]] | None = None,
) -> Iterator[None]:
    """Serve /metrics and sample the figures while the block runs (a process with Redis, a
    projector, also counts the dead letters of the store's table unless given others)."""
    if dead_letters is None and redis is not None:
        dead_letters = DeadLetterStore(store.engine)
    port = settings.metrics_port if args.metrics_port is None else args.metrics_port
    listener = start_metrics_listener(metrics.registry, args.metrics_host or settings.host, port)
    stop = threading.Event()
    sampler = ProgressSampler(
        store,
        metrics,
        redis=redis,
        dead_letters=dead_letters,
        stall_seconds=settings.stall_seconds,
        process=process,
        counters=counters,
    )
    thread = sampler.start(stop)
    try:
        yield
    finally:
        stop.set()
        thread.join(5.0)
        if listener is not None:
            listener.stop()
