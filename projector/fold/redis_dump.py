"""One generation of the Redis read model in the oracle's shape, to compare the two."""

from __future__ import annotations

from typing import Any

from shared.readmodel import keys

# The watermark, a rebuild's poison list and the cluster's bookkeeping are not documents.
_EXCLUDED = frozenset({keys.WATERMARK, keys.POISON})
# A cluster slot's dependency versions and a writer's stream locks.
_BOOKKEEPING_PREFIXES = (f"{keys.DEPENDENCIES}:{{", keys.stream_lock(""))
_SCAN_COUNT = 1000


def dump_generation(redis: Any, generation: str) -> dict[str, object]:
    """Every key of `generation` by suffix: hashes as dicts of bytes, sorted sets as dicts of
    scores, sets as sets of members: the shape `MemoryReadModel.dump()` returns."""
    prefix = keys.full_key(generation, "")
    names = [
        name.decode() if isinstance(name, bytes) else name
        for name in redis.scan_iter(match=keys.generation_pattern(generation), count=_SCAN_COUNT)
    ]
    names = [
        name
        for name in names
        if name[len(prefix) :] not in _EXCLUDED and not name[len(prefix) :].startswith(_BOOKKEEPING_PREFIXES)
    ]
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
    types = [t.decode() if isinstance(t, bytes) else t for t in pipe.execute()]
    pipe = redis.pipeline(transaction=False)
    for name, kind in zip(names, types, strict=True):
        if kind == "hash":
            pipe.hgetall(name)
        elif kind == "zset":
            pipe.zrange(name, 0, -1, withscores=True)
        elif kind == "set":
            pipe.smembers(name)
        else:
            pipe.get(name)
    dumped: dict[str, object] = {}
    for name, kind, value in zip(names, types, pipe.execute(), strict=True):
        suffix = name[len(prefix) :]
        if kind == "hash":
            dumped[suffix] = {field.decode(): raw for field, raw in value.items()}
        elif kind == "zset":
            dumped[suffix] = {member.decode(): float(score) for member, score in value}
        elif kind == "set":
            dumped[suffix] = {member.decode() for member in value}
        else:
            dumped[suffix] = value
    return dumped
