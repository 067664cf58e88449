"""Reading one generation back out of Redis in the oracle's shape, for verification."""

from __future__ import annotations

from typing import Any

from shared.readmodel import keys

# Bookkeeping that is not part of the fold (the oracle has its own watermark).
_NOT_FOLDED = frozenset({keys.WATERMARK, keys.POISON})


def dump_generation(redis: Any, generation: str, *, match_suffix: str = "*") -> dict[str, object]:
    """Every key of `generation` (by suffix) with its value; SCAN, never KEYS."""
    prefix = keys.full_key(generation, "")
    dumped: dict[str, object] = {}
    pipe_keys: list[bytes] = list(redis.scan_iter(match=prefix + match_suffix, count=1000))
    types = _pipelined(redis, [("type", k) for k in pipe_keys])
    reads: list[tuple[str, bytes]] = []
    for key, kind in zip(pipe_keys, types, strict=True):
        reads.append((kind.decode() if isinstance(kind, bytes) else str(kind), key))
    values = _pipelined(
        redis,
        [
            ({"hash": "hgetall", "zset": "zrange_all", "set": "smembers"}.get(kind, "get"), key)
            for kind, key in reads
        ],
    )
    for (kind, key), value in zip(reads, values, strict=True):
        suffix = key.decode()[len(prefix) :]
        if suffix in _NOT_FOLDED:
            continue
        if kind == "hash":
            dumped[suffix] = {f.decode(): v for f, v in value.items()}
        elif kind == "zset":
            dumped[suffix] = {m.decode(): float(s) for m, s in value}
        elif kind == "set":
            dumped[suffix] = {m.decode() for m in value}
        else:
            dumped[suffix] = value
    return dumped


def _pipelined(redis: Any, commands: list[tuple[str, bytes]]) -> list[Any]:
    results: list[Any] = []
    for start in range(0, len(commands), 500):
        pipe = redis.pipeline(transaction=False)
        for name, key in commands[start : start + 500]:
            if name == "zrange_all":
                pipe.zrange(key, 0, -1, withscores=True)
            else:
                getattr(pipe, name)(key)
        results.extend(pipe.execute())
    return results
