"""Records: the read model as a flat set of (type, key, member) -> value entries.

Everything the projector writes is a hash field, a sorted-set member or a set member. An
entity's records are derived from its state; the change an event makes is the difference
between the records before and after, which is also what keeps indexes exact.
"""

from __future__ import annotations

from collections.abc import Mapping

HASH = "h"
ZSET = "z"
SET = "s"

RecordKey = tuple[str, str, str]  # (type, key suffix, field or member)
RecordValue = bytes | float
Records = dict[RecordKey, RecordValue]

# One write operation, as the apply script takes it: (op, key suffix, field/member, value).
Op = tuple[str, str, str, bytes | str]
# The operation that deletes a whole key (a hash about to be written afresh).
DELETE = "del"


def diff(old: Mapping[RecordKey, RecordValue], new: Mapping[RecordKey, RecordValue]) -> list[Op]:
    """The operations that turn `old` into `new` (removals first, then additions)."""
    ops: list[Op] = []
    for record_key in old:
        if record_key not in new:
            kind, key, member = record_key
            ops.append((_REMOVE[kind], key, member, b""))
    for record_key, value in new.items():
        if old.get(record_key) != value:
            kind, key, member = record_key
            ops.append((_ADD[kind], key, member, _encode(value)))
    return ops


_REMOVE = {HASH: "hdel", ZSET: "zrem", SET: "srem"}
_ADD = {HASH: "hset", ZSET: "zadd", SET: "sadd"}


def _encode(value: RecordValue) -> bytes | str:
    if isinstance(value, bytes):
        return value
    return str(int(value)) if value == int(value) else repr(value)
