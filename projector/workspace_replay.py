"""Rebuilding one workspace in place: fold its events from the store, then repair Redis.

A whole-model rebuild writes a new generation; one workspace does not need that. The
workspace's events (its own stream and its apps') are folded from the store in memory, the
keys the workspace owns are compared with what the live generation holds, and the
difference is applied with the writer's own apply script, gated on the workspace's stream
versions as read live: if the live projector moved any of them meanwhile, the repair is
recomputed. Its members' memberships are their accounts' keys: a full rebuild repairs those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from projector.fold.batch import BatchChange, KeyWrite, OwnerChange
from projector.fold.memory import MemoryProjection
from projector.fold.projection import StoreReads
from projector.fold.records import HASH, SET, ZSET, Records, diff
from projector.fold.scope import WorkspaceScope
from projector.fold.state import split_stored
from projector.generations import live_generation
from projector.writer.redis_projector import ChangeApplier, NoGenerationError
from shared.events import StoredEvent
from shared.readmodel import keys

_ATTEMPTS = 5
_PAGE = 5000


class WorkspaceEvents(StoreReads, Protocol):
    def settled_horizon(self) -> Any: ...

    def read_owner(
        self, owner: str, horizon: Any, after: tuple[str, int] | None, limit: int
    ) -> list[StoredEvent]: ...


@dataclass(frozen=True, slots=True)
class WorkspaceRepair:
    workspace_id: str
    generation: str
    events: int
    operations: int


def replay_workspace(store: WorkspaceEvents, redis: Any, workspace_id: str) -> WorkspaceRepair:
    """Make the live generation's keys of one workspace equal to the fold of the store."""
    workspace_id = workspace_id.lower()
    events = _workspace_events(store, workspace_id)
    model = MemoryProjection(store, only=f"workspace:{workspace_id}")
    model.fold_all(events)
    states = keys.stream_state(workspace_id, "app:")
    scope = WorkspaceScope(
        workspace_id, frozenset(key[len(states) :] for key in model.hashes if key.startswith(states))
    )
    wanted = scope.restrict(model.dump())
    changes = ChangeApplier(redis)
    for _ in range(_ATTEMPTS):
        generation = live_generation(redis)
        if generation is None:
            raise NoGenerationError("no live generation: run `readmodel replay` first")
        found = _owned(redis, generation, scope, set(wanted))
        locators = [keys.app_workspace(app_id) for app_id in sorted(scope.app_ids)]
        change = _repair(workspace_id, found, wanted, locators)
        if changes.send("", generation, change) == "ok":
            operations = sum(len(owner.ops) for owner in change.owners) + len(change.writes)
            return WorkspaceRepair(workspace_id, generation, len(events), operations)
    raise RuntimeError(f"workspace {workspace_id} kept changing while it was being rebuilt; try again")


def _repair(
    workspace_id: str, found: dict[str, object], wanted: dict[str, object], locators: list[str]
) -> BatchChange:
    """The change from what Redis holds to what the fold wants, gated on the workspace's
    stream versions as found; the app locators written whole."""
    checks = tuple(
        (key, split_stored(value.get("v", b"0"))[0] if isinstance(value, dict) else 0)
        for key in sorted(set(found) | set(wanted))
        if keys.is_stream_state(key) and keys.owner_tag(key) == workspace_id
        for value in (found.get(key, {}),)
    )
    owned = {key: value for key, value in found.items() if keys.owner_tag(key) == workspace_id}
    ops = diff(
        _records(owned), _records({k: v for k, v in wanted.items() if keys.owner_tag(k) == workspace_id})
    )
    writes: list[KeyWrite] = []
    for key in locators:
        want, have = _fields(wanted.get(key)), _fields(found.get(key))
        if want != have:
            # Rewritten at the version it holds: the live projector's later write still wins.
            version = int(_raw(found.get(key)).get("v", b"0"))
            writes.append(KeyWrite(key, (("v", version),), tuple(sorted(want.items()))))
    owner = OwnerChange(f"workspace:{workspace_id}", checks, tuple(ops))
    return BatchChange(position=0, owners=(owner,), writes=tuple(writes))


def _raw(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _fields(value: object) -> dict[str, Any]:
    return {name: raw for name, raw in _raw(value).items() if name not in keys.VERSION_FIELDS}


def _workspace_events(store: WorkspaceEvents, workspace_id: str) -> list[StoredEvent]:
    horizon = store.settled_horizon()
    found: list[StoredEvent] = []
    after: tuple[str, int] | None = None
    while True:
        page = store.read_owner(f"workspace:{workspace_id}", horizon, after, _PAGE)
        found.extend(page)
        if len(page) < _PAGE:
            break
        after = (page[-1].event.stream, page[-1].event.version)
    found.sort(key=lambda stored: stored.position)
    return found


def _records(dump: dict[str, object]) -> Records:
    records: Records = {}
    for key, value in dump.items():
        if isinstance(value, dict):
            for member, item in value.items():
                kind = ZSET if isinstance(item, float) else HASH
                records[(kind, key, member)] = item
        elif isinstance(value, set):
            for member in value:
                records[(SET, key, member)] = b""
    return records


def _owned(redis: Any, generation: str, scope: WorkspaceScope, candidates: set[str]) -> dict[str, object]:
    """What the live generation holds of the workspace: its tagged keys and its apps' locators."""
    prefix = keys.full_key(generation, "")
    names = set(candidates)
    names.update(
        key.decode()[len(prefix) :]
        for key in redis.scan_iter(match=f"{prefix}*{{{scope.workspace_id}}}*", count=1000)
    )
    names.update(keys.app_workspace(app_id) for app_id in scope.app_ids)
    ordered = sorted(name for name in names if scope.owns_key(name))
    pipe = redis.pipeline(transaction=False)
    for key in ordered:
        pipe.type(prefix + key)
    kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in pipe.execute()]
    pipe = redis.pipeline(transaction=False)
    present = [(key, kind) for key, kind in zip(ordered, kinds, strict=True) if kind != "none"]
    for key, kind in present:
        if kind == "hash":
            pipe.hgetall(prefix + key)
        elif kind == "zset":
            pipe.zrange(prefix + key, 0, -1, withscores=True)
        else:
            pipe.smembers(prefix + key)
    found: dict[str, object] = {}
    for (key, kind), value in zip(present, pipe.execute(), strict=True):
        members: dict[str, Any] | set[str]
        if kind == "hash":
            members = {f.decode(): raw for f, raw in value.items()}
        elif kind == "zset":
            members = {m.decode(): float(score) for m, score in value}
        else:
            members = {m.decode() for m in value}
        found[key] = members
    return found
