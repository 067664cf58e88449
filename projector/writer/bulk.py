"""Writing changes into a generation nobody reads yet: plain commands in large pipelines.

The live writer gates every change on the versions it read (the apply script), because
another writer of the same owner may have moved them. A rebuild's generation is not live and
each of its owners is folded by one rebuild worker, so there is nothing to gate: the same
operations go out as plain HSET/ZADD/SADD (runs on one key merged into one command), without
a transaction, and each id-found key is replaced whole, as the apply script replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projector.fold.batch import BatchChange
from projector.fold.records import DELETE, Op
from shared.readmodel import keys

# Operations that add, by the command that adds many of them to one key at once.
_ADDING = {"hset": "HSET", "zadd": "ZADD", "sadd": "SADD"}
_REMOVING = {"hdel": "HDEL", "zrem": "ZREM", "srem": "SREM"}


class BulkWriter:
    """Queues changes to one generation on a pipeline; `flush` sends them."""

    def __init__(self, redis: Any, generation: str) -> None:
        self._pipe = redis.pipeline(transaction=False)
        self._prefix = keys.full_key(generation, "")
        self.pending = 0  # commands queued

    def add(self, change: BatchChange) -> None:
        ops = [op for owner in change.owners for op in owner.ops]
        if all(op[0] in _ADDING for op in ops):
            self._additions(ops)
        else:
            self._in_order(ops)
        for write in change.writes:
            key = self._prefix + write.key
            self._pipe.execute_command("DEL", key)
            flat: list[Any] = []
            for name, value in (*write.versions, *write.fields):
                flat.extend((name, value))
            self._pipe.execute_command("HSET", key, *flat)
            self.pending += 2

    def _additions(self, ops: list[Op]) -> None:
        """Additions only (what a part folded from nothing makes): one command per key, in
        any order, the last value of a field winning as it would one by one."""
        merged: dict[tuple[str, str], dict[str, bytes | str]] = {}
        for op, key, member, value in ops:
            merged.setdefault((op, key), {})[member] = value
        for (op, key), members in merged.items():
            self._send(op, key, _arguments(op, members.items()))

    def _in_order(self, ops: list[Op]) -> None:
        """Operations in their order, consecutive ones of one kind on one key merged (an
        owner's records come key by key, removals before additions)."""
        run: list[tuple[str, bytes | str]] = []
        current: tuple[str, str] | None = None
        for op, key, member, value in ops:
            if (op, key) != current:
                if current is not None:
                    self._send(*current, _arguments(current[0], run))
                current, run = (op, key), []
            run.append((member, value))
        if current is not None:
            self._send(*current, _arguments(current[0], run))

    def _send(self, op: str, key: str, arguments: list[Any]) -> None:
        if op == DELETE:  # a hash written afresh: the key goes, whatever the members say
            self._pipe.execute_command("DEL", self._prefix + key)
        else:
            command = _ADDING.get(op) or _REMOVING[op]
            self._pipe.execute_command(command, self._prefix + key, *arguments)
        self.pending += 1

    def flush(self) -> None:
        if self.pending:
            self._pipe.execute()
            self.pending = 0


def _arguments(op: str, members: Iterable[tuple[str, bytes | str]]) -> list[Any]:
    """A command's arguments after its key: field and value pairs (HSET), score and member
    pairs (ZADD), members alone (the others)."""
    found: list[Any] = []
    for member, value in members:
        if op == "hset":
            found.extend((member, value))
        elif op == "zadd":
            found.extend((value, member))
        else:
            found.append(member)
    return found
