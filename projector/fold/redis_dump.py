"""One generation of the Redis read model in `MemoryProjection.dump()`'s shape, to compare."""

from __future__ import annotations

from typing import Any

from shared.readmodel import keys

# The watermark and a rebuild's poison list are not documents.
_EXCLUDED = frozenset({keys.WATERMARK, keys.POISON})
_SCAN_COUNT = 1000


def dump_generation(redis: Any, generation: str) -> dict[str, object]:
    """Every key of `generation` by suffix: hashes as dicts of bytes, sorted sets as dicts of
    scores, sets as sets of members: the shape `MemoryProjection.dump()` returns."""
    prefix = keys.full_key(generation, "")
    names = [
        name.decode() if isinstance(name, bytes) else name
        for name in redis.scan_iter(match=keys.generation_pattern(generation), count=_SCAN_COUNT)
    ]
    names = [name for name in names if name[len(prefix) :] not in _EXCLUDED]
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
    return without_versions(dumped)


def without_versions(dump: dict[str, object]) -> dict[str, object]:
    """A dump without the versions the keys found by an id alone keep (tokens, app locators):
    they say when a key was last written, which depends on how events were batched, and are
    no part of what is served (a locator left with its version alone is dropped)."""
    kept: dict[str, object] = {}
    for key, value in dump.items():
        if isinstance(value, dict) and keys.owner_tag(key) is None and key.startswith(("tok:", "app:")):
            fields = {field: raw for field, raw in value.items() if field not in keys.VERSION_FIELDS}
            if fields:
                kept[key] = fields
        else:
            kept[key] = value
    return kept
