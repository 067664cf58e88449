"""The event flow of one process: relay and consumer in threads (`readmodel up`; composed
in projector/wiring.py), around one broker URL, by default the in-process memory://
transport, which both threads share.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from projector.broker.consumer import ProjectorConsumer
from projector.generations import ensure_live_generation, live_generation
from projector.healing import ACKNOWLEDGED_CURSOR
from projector.relay import RELAY_CURSOR, Relay
from projector.store import Cursor, EventStore
from shared.readmodel import keys

log = logging.getLogger(__name__)

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
        self._threads: dict[str, threading.Thread] = {}
        self.failures: dict[str, Exception] = {}

    def start(self) -> None:
        """Start both threads (after preparing the relay's starting point, where needed)."""
        if self._prepare is not None:
            self._prepare()
        self._stop.clear()
        self._threads = {
            "consumer": threading.Thread(
                target=self._guard("consumer", self.consumer.run), name="readmodel-consumer", daemon=True
            ),
            "relay": threading.Thread(
                target=self._guard("relay", lambda: self.relay.run(self._stop)),
                name="readmodel-relay",
                daemon=True,
            ),
        }
        for thread in self._threads.values():
            thread.start()

    def stop(self, timeout: float = 1.5) -> None:
        """Ask both threads to finish and wait for them, at most `timeout` seconds in all."""
        self._stop.set()
        self.consumer.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def alive(self) -> bool:
        """True while both threads run."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads.values())

    def failure(self) -> str | None:
        """Which part ended on its own, and why (None while both run, or once stopped)."""
        if self._stop.is_set():
            return None
        for name, thread in self._threads.items():
            if not thread.is_alive():
                error = self.failures.get(name)
                return f"the {name} stopped" + (f": {error!r}" if error is not None else "")
        return None

    def _guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # recorded for `failure()`, not re-raised into the thread
                log.exception("the event flow stopped: the %s failed", name)
                self.failures[name] = exc

        return run


def rewind_relay(store: EventStore, redis: Any) -> Callable[[], None]:
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
