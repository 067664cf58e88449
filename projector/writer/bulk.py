"""Writing changes into a generation nobody reads yet: plain commands in large pipelines.

The live writer gates every change on the versions it read (the apply script), because
another writer of the same owner may have moved them. A rebuild's generation is not live and
each of its owners is folded by one rebuild worker, so there is nothing to gate: the same
operations go out as plain HSET/ZADD/SADD (runs on one key merged into one command), without
a transaction, and each id-found key is replaced whole, as the apply script replaces it.
"""

from __future__ import annotations

from typing import Any

from projector.fold.batch import BatchChange
from projector.fold.records import Op
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
        for owner in change.owners:
            self._operations(owner.ops)
        for write in change.writes:
            key = self._prefix + write.key
            self._pipe.execute_command("DEL", key)
            flat: list[Any] = []
            for name, value in (*write.versions, *write.fields):
                flat.extend((name, value))
            self._pipe.execute_command("HSET", key, *flat)
            self.pending += 2

    def _operations(self, ops: tuple[Op, ...]) -> None:
        """Consecutive operations of one kind on one key go out as one command (an owner's
        records come key by key, removals before additions, so order is kept)."""
        run: list[Any] = []
        current: tuple[str, str] | None = None
        for op, key, member, value in ops:
            if (op, key) != current:
                self._send(current, run)
                current, run = (op, key), []
            if op == "zadd":
                run.extend((value, member))  # ZADD takes the score first
            elif op == "hset":
                run.extend((member, value))
            else:
                run.append(member)
        self._send(current, run)

    def _send(self, current: tuple[str, str] | None, run: list[Any]) -> None:
        if current is None:
            return
        op, key = current
        command = _ADDING.get(op) or _REMOVING[op]
        self._pipe.execute_command(command, self._prefix + key, *run)
        self.pending += 1

    def flush(self) -> None:
        if self.pending:
            self._pipe.execute()
            self.pending = 0
