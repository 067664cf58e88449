"""Applying a batch on a Redis Cluster, where one script may only touch one hash slot.

On one Redis a batch is one atomic script. A cluster cannot run that across slots, so a
batch is applied in four steps, each safe to repeat:

0. its intent: each changed stream's state hash notes the version the batch takes it to;
1. the records, one script per slot (hash tag): each slot keeps, per stream, the version
   its records were derived from, and refuses records derived from an older one;
2. the streams' folded states, one script per stream, each moving only from the version the
   batch started at (already there: a retry), the intent cleared;
3. the generation's watermark, raised, never lowered.

A crash between steps leaves the states behind the records. The next writer of a stream
with an intent first redoes exactly that step (`RedisView.pending`), which rewrites the
same records, then goes on. A conflict at any step stops the batch before its states move,
so it is recomputed.

The records are a difference from the batch's start states, so a slot takes them only
where its records derive from those states (or already from the end ones). When not, it
names the stream and the version it has seen, and the batch is recomputed from the store:
- past the batch's end (two projectors each wrote some slots ahead of the other: an
  account's partition and a workspace's meet in an app's slot): that stream is first brought
  up to the version seen, so both derive the same records and neither waits for the other;
- between start and end (a batch stopped half-way by a crash, redelivered with more): the
  stream is brought to the version seen and no further, the rest follows in the next round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from projector.fold.batch import BatchChange
from projector.fold.records import Op
from projector.writer.scripts import lua_script, run_scripts
from shared.events import Event
from shared.readmodel import keys

_RECORDS = lua_script("cluster_records.lua")
_STATE = lua_script("cluster_state.lua")
_INTENT = lua_script("cluster_intent.lua")
_WATERMARK = lua_script("watermark.lua")

OK = "ok"
CONFLICT = "conflict"


def hash_tag(key: str) -> str:
    """The part of `key` Redis Cluster hashes: the first non-empty {...}, else the whole key."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def dependencies_key(prefix: str, tag: str) -> str:
    """The hash, in the slot of `tag`, of the stream versions that slot's records derive from."""
    return f"{prefix}{keys.DEPENDENCIES}:{{{tag}}}"


@dataclass(slots=True)
class _Slot:
    sources: dict[str, tuple[int, int]] = field(default_factory=dict)
    sizes: list[tuple[str, str, int]] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)


@dataclass(slots=True)
class RetryPlan:
    """How to recompute a refused batch: bring `targets` streams up to their versions from
    the store first, and fold nothing of the `capped` ones beyond that, until a round lands."""

    targets: dict[str, int] = field(default_factory=dict)
    capped: set[str] = field(default_factory=set)
    recompute: bool = False  # a fan-out set moved: nothing to catch up, just fold again

    @property
    def refused(self) -> bool:
        return bool(self.targets) or self.recompute

    def aim(self, stream: str, version: int, *, cap: bool) -> None:
        if cap:
            self.targets[stream] = version
            self.capped.add(stream)
        elif stream not in self.capped:
            self.targets[stream] = max(version, self.targets.get(stream, 0))

    def holds_back(self, event: Event) -> bool:
        """The event lies past its stream's cap: it waits for the next round."""
        return event.stream in self.capped and event.version > self.targets[event.stream]

    def merge(self, other: RetryPlan) -> None:
        for stream, version in other.targets.items():
            self.aim(stream, version, cap=stream in other.capped)

    def clear(self) -> None:
        self.targets.clear()
        self.capped.clear()
        self.recompute = False


@dataclass(frozen=True, slots=True)
class ClusterOutcome:
    """'ok' or 'conflict'; a conflict may say how to recompute."""

    status: str
    plan: RetryPlan = field(default_factory=RetryPlan)


class ClusterApplier:
    """Applies batch changes slot by slot."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._scripts = {name: redis.register_script(body) for name, body in _bodies().items()}

    def apply(self, generation: str, change: BatchChange) -> ClusterOutcome:
        prefix = keys.full_key(generation, "")
        slots: dict[str, _Slot] = {}
        for part in change.parts:
            for op in part.ops:
                slot = slots.setdefault(hash_tag(prefix + op[1]), _Slot())
                slot.ops.append(op)
                for stream, start, end in part.sources:
                    slot.sources[stream] = (start, end)
        for size in change.sizes:
            slots.setdefault(hash_tag(prefix + size[1]), _Slot()).sizes.append(size)
        writes: list[tuple[str, str, list[Any]]] = []
        for tag, slot in slots.items():
            args: list[Any] = [prefix, len(slot.sources)]
            for stream, (start, end) in slot.sources.items():
                args.extend((stream, start, end))
            args.append(len(slot.sizes))
            for size in slot.sizes:
                args.extend(size)
            args.append(len(slot.ops))
            for op in slot.ops:
                args.extend(op)
            writes.append(("records", dependencies_key(prefix, tag), args))
        intents = [
            ("intent", prefix + keys.stream_state(state.stream), [state.start, state.end])
            for state in change.states
        ]
        if any(_text(answer) != OK for answer in self._run(intents)):
            return ClusterOutcome(CONFLICT)  # another writer moved a state: recompute
        plan = self._refusals(writes)
        if plan.refused:
            return ClusterOutcome(CONFLICT, plan)
        states = [
            ("state", prefix + keys.stream_state(state.stream), [state.start, state.end, *_fields(state.ops)])
            for state in change.states
        ]
        if any(_text(answer) != OK for answer in self._run(states)):
            return ClusterOutcome(CONFLICT)  # another projector moved a state: recompute
        self._run([("watermark", prefix + keys.WATERMARK, [change.position])])
        return ClusterOutcome(OK)

    def _refusals(self, calls: list[tuple[str, str, list[Any]]]) -> RetryPlan:
        plan = RetryPlan()
        for answer in self._run(calls):
            if isinstance(answer, list):  # (conflict, split or moved, what, version or size)
                for k in range(0, len(answer) - 2, 3):
                    kind = _text(answer[k])
                    if kind == "moved":
                        plan.recompute = True
                    else:
                        plan.aim(_text(answer[k + 1]), int(answer[k + 2]), cap=kind == "split")
        return plan

    def _run(self, calls: list[tuple[str, str, list[Any]]]) -> list[Any]:
        return run_scripts(self._redis, [(self._scripts[name], key, args) for name, key, args in calls])


def _bodies() -> dict[str, str]:
    return {"intent": _INTENT, "records": _RECORDS, "state": _STATE, "watermark": _WATERMARK}


def _fields(ops: Iterable[Op]) -> list[Any]:
    found: list[Any] = []
    for _, _, member, value in ops:
        found.extend((member, value))
    return found


def _text(answer: Any) -> str:
    return answer.decode() if isinstance(answer, bytes) else str(answer)
