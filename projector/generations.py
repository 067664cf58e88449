"""Generations of the read model: naming them and finding the live one (rebuilds flip it)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from shared.readmodel import keys


def new_generation_id() -> str:
    """A generation name that sorts by creation time and never repeats."""
    return f"g{int(time.time() * 1000):x}{secrets.token_hex(2)}"


def live_generation(redis: Any) -> str | None:
    raw = redis.get(keys.LIVE_POINTER)
    return None if raw is None else raw.decode()


def ensure_live_generation(redis: Any) -> tuple[str, bool]:
    """The live generation, creating an empty one if there is none; True when created."""
    candidate = new_generation_id()
    if redis.set(keys.LIVE_POINTER, candidate, nx=True):
        return candidate, True
    current = live_generation(redis)
    assert current is not None
    return current, False
