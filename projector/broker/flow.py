"""The event flow of one process: relay and consumer in threads, composed from settings.

`readmodel up` runs everything in one process; this builds its relay (store → broker) and
its consumer (broker → Redis) around one broker URL, by default the in-process memory://
transport, which both threads share.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from projector.broker.connection import connect, is_durable
from projector.broker.consumer import CursorCheckpoint, ProjectorConsumer
from projector.broker.publisher import Publisher
from projector.broker.topology import Topology
from projector.dead_letters.store import DeadLetterStore
from projector.generations import ensure_live_generation, live_generation
from projector.healing import ACKNOWLEDGED_CURSOR
from projector.observability.metrics import (
    MeasuredApplier,
    MeasuredDeadLetters,
    MeasuredPublisher,
    ProjectorMetrics,
)
from projector.relay import RELAY_CURSOR, Relay
from projector.store import Cursor, EventStore
from projector.writer import RedisProjector
from shared.readmodel import keys
from shared.settings import Settings

log = logging.getLogger(__name__)

# The relay's cursor is saved at most this often: a crash republishes up to that much.
RELAY_SAVE_INTERVAL = 0.5

_START = Cursor(None, 0)


class EventFlow:
    """A relay and a consumer, each run in a daemon thread until `stop()`."""

    def __init__(
        self, relay: Relay, consumer: ProjectorConsumer, *, prepare: Callable[[], None] | None = None
    ):
        self.relay = relay
        self.consumer = consumer
        self._prepare = prepare
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failures: list[Exception] = []

    def start(self) -> None:
        """Start both threads (after preparing the relay's starting point, where needed)."""
        if self._prepare is not None:
            self._prepare()
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._guard(self.consumer.run), name="readmodel-consumer", daemon=True),
            threading.Thread(
                target=self._guard(lambda: self.relay.run(self._stop)), name="readmodel-relay", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask both threads to finish and wait for them (at most `timeout` seconds each)."""
        self._stop.set()
        self.consumer.stop()
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        """True while both threads run."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # recorded for `alive()` and the caller, not re-raised into the thread
                log.exception("the event flow stopped")
                self.failures.append(exc)

        return run


def build_event_flow(
    settings: Settings,
    store: EventStore,
    redis: Any,
    *,
    topology: Topology | None = None,
    dead_letters: DeadLetterStore | None = None,
    metrics: ProjectorMetrics | None = None,
) -> EventFlow:
    """Compose the relay and the consumer for `settings.broker_url` (memory:// by default)."""
    url = settings.broker_url
    durable = is_durable(url)
    # In-process there is nothing to scale out, and one queue keeps the checkpoint simple.
    topology = topology or Topology(partitions=settings.partitions if durable else 1)
    letters = dead_letters or DeadLetterStore(store.engine)
    letters.create_schema()
    publisher: Any = Publisher(connect(url), topology)
    applier: Any = RedisProjector(redis, store)
    sink: Any = letters
    if metrics is not None:  # count what flows, by type, for /metrics
        publisher = MeasuredPublisher(publisher, metrics)
        applier = MeasuredApplier(applier, metrics)
        sink = MeasuredDeadLetters(letters, metrics)
    relay = Relay(store, publisher, save_interval=RELAY_SAVE_INTERVAL)
    checkpoint = CursorCheckpoint(lambda cursor: store.save_cursor(ACKNOWLEDGED_CURSOR, cursor))
    consumer = ProjectorConsumer(connect(url), applier, sink, topology=topology, checkpoint=checkpoint)
    return EventFlow(relay, consumer, prepare=None if durable else _rewind_relay(store, redis))


def _rewind_relay(store: EventStore, redis: Any) -> Callable[[], None]:
    """Restart the relay where the consumer's last checkpoint is (memory:// forgot the rest).

    A Redis that is behind the checkpoint (new, flushed, or rebuilt from nothing) gets the
    whole store again; duplicates are no-ops, so that is slow at worst, never wrong.
    """

    def prepare() -> None:
        generation, _ = ensure_live_generation(redis)
        checkpoint = store.load_cursor(ACKNOWLEDGED_CURSOR)
        watermark = redis.get(keys.full_key(generation, keys.WATERMARK))
        applied = 0 if watermark is None else int(watermark)
        start = checkpoint if applied >= checkpoint.position else _START
        log.info("relay restarts at position %d (generation %s)", start.position, live_generation(redis))
        store.save_cursor(RELAY_CURSOR, start)

    return prepare


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call `stop` on SIGTERM or SIGINT while inside the block (main thread only)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(_signum: int, _frame: object) -> None:
        stop()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
