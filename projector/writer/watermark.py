"""A generation's watermark on its own: read, or raised past events settled without a write."""

from __future__ import annotations

from typing import Any

from projector.writer.scripts import lua_script, run_scripts
from shared.readmodel import keys

RAISE_SCRIPT = lua_script("watermark.lua")


class Watermarks:
    """Reads and raises generations' watermarks; a watermark never goes down."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._raise = redis.register_script(RAISE_SCRIPT)

    def read(self, generation: str) -> int:
        raw = self._redis.get(keys.full_key(generation, keys.WATERMARK))
        return 0 if raw is None else int(raw)

    def raise_to(self, generation: str, position: int) -> None:
        """Raise the watermark of `generation` to `position`, unless it is there already."""
        key = keys.full_key(generation, keys.WATERMARK)
        run_scripts(self._redis, [(self._raise, key, [position])])
