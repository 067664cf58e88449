"""Short write locks on streams, for projectors sharing a Redis Cluster.

On one Redis every batch applies in one atomic script, so writers never interleave. On a
cluster a batch is applied slot by slot (cluster_apply.py), and two writers of the same
stream (a standby taking over, a rebuild catching up after its flip) could interleave their
slot writes. A writer first takes the lock of every stream its batch changes, all or none;
streams it only reads (an author's name) need none. A lock expires by itself, so a killed
writer holds its streams for at most `ttl` seconds.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import TryAgainError

from projector.writer.scripts import run_scripts
from shared.readmodel import keys

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class StreamsBusyError(TryAgainError):
    """Another writer held a stream for longer than we wait: retry the batch later."""


@dataclass(frozen=True, slots=True)
class HeldLocks:
    names: tuple[str, ...]
    token: str


class StreamLocks:
    """All-or-none locks on streams, one key per stream, waited for up to `wait` seconds."""

    def __init__(
        self,
        redis: Any,
        *,
        ttl: float = 5.0,
        wait: float = 6.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl * 1000)
        self._wait = wait
        self._sleep = sleep
        self._monotonic = monotonic
        self._release = redis.register_script(_RELEASE)

    def acquire(self, generation: str, streams: Iterable[str]) -> HeldLocks:
        names = tuple(sorted({keys.full_key(generation, keys.stream_lock(s)) for s in streams}))
        held = HeldLocks(names, secrets.token_hex(8))
        deadline = self._monotonic() + self._wait
        while True:
            pipe = self._redis.pipeline()
            for name in names:
                pipe.set(name, held.token, nx=True, px=self._ttl_ms)
            taken = pipe.execute()
            if all(taken):
                return held
            self._free([name for name, ok in zip(names, taken, strict=True) if ok], held.token)
            if self._monotonic() > deadline:
                raise StreamsBusyError(
                    f"{sum(not ok for ok in taken)} stream(s) stayed locked by another writer"
                )
            self._sleep(random.uniform(0.002, 0.02))  # jitter: two writers do not retry in step

    def release(self, held: HeldLocks) -> None:
        self._free(list(held.names), held.token)

    def _free(self, names: list[str], token: str) -> None:
        """Release our locks in one pipeline (each only if still ours: it may have expired)."""
        run_scripts(self._redis, [(self._release, name, [token]) for name in names])
