"""`readmodel up` watches its parts: one that dies stops the process instead of leaving it stale."""

from __future__ import annotations

import threading
import time
from typing import Any

from projector.cli.commands.up import Parts
from projector.cli.signals import Shutdown


class Healer:
    """Builds nothing, then checks until stopped, as a healer with a whole read model does."""

    def __init__(self) -> None:
        self.checks = 0

    def check_and_heal(self) -> None:
        self.checks += 1

    def run(self, stop: threading.Event) -> None:
        stop.wait()


class Flow:
    """An event flow whose relay dies when told to."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.stopped = False
        self.dead: str | None = None

    def start(self) -> None:
        self.started.set()

    def failure(self) -> str | None:
        return self.dead

    def stop(self, timeout: float = 1.5) -> None:
        self.stopped = True


def _parts(flow: Flow, shutdown: Shutdown) -> Parts:
    healer: Any = Healer()
    return Parts(healer, flow, shutdown=shutdown)


def test_a_part_that_dies_ends_the_watch_with_its_reason() -> None:
    flow, shutdown = Flow(), Shutdown()
    parts = _parts(flow, shutdown)
    parts.start()
    assert flow.started.wait(5)
    found: list[str | None] = []
    watcher = threading.Thread(target=lambda: found.append(parts.watch()))
    watcher.start()
    time.sleep(0.3)
    assert watcher.is_alive()  # all parts run: the watch goes on

    flow.dead = "the relay stopped: ValueError('Invalid isoformat string')"
    watcher.join(5)

    assert found == ["the relay stopped: ValueError('Invalid isoformat string')"]
    parts.stop()
    assert flow.stopped


def test_a_stop_request_ends_the_watch_without_a_failure() -> None:
    flow, shutdown = Flow(), Shutdown()
    parts = _parts(flow, shutdown)
    parts.start()
    assert flow.started.wait(5)
    threading.Timer(0.2, shutdown.request).start()
    assert parts.watch() is None
    flow.dead = "the relay stopped"  # a part ending because it was told to is no failure
    assert parts.failure() is None
