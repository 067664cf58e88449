"""Rebuilding one workspace in place: fold its events from the store, then repair Redis.

A whole-model rebuild writes a new generation; one workspace does not need that. Its
streams (the workspace and its apps) are folded from the store in memory, their records
derived with the live accounts' names, compared with what the live generation holds, and
the difference is applied with the same guarded apply script as the projector (slot by slot
on a cluster): if the live projector moved any of those streams meanwhile, the repair is
recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from projector.fold.batch import BatchChange, ChangePart, StateChange
from projector.fold.derive import app_records, stream_records, workspace_records
from projector.fold.memory import MemoryReadModel
from projector.fold.records import HASH, SET, ZSET, Op, RecordKey, Records, RecordValue, diff
from projector.fold.scope import WorkspaceScope
from projector.fold.state import AccountState, AppState, State, WorkspaceState
from projector.generations import live_generation
from projector.writer.cluster_apply import OK, ClusterApplier
from projector.writer.redis_projector import APPLY_SCRIPT, NoGenerationError
from projector.writer.redis_view import RedisView
from shared.events import StoredEvent
from shared.readmodel import keys
from shared.readmodel.connection import is_cluster

_ATTEMPTS = 5


class WorkspaceEvents(Protocol):
    def settled_horizon(self) -> Any: ...

    def read_workspace(
        self, workspace_id: str | None, horizon: Any, after: tuple[str, int] | None, limit: int
    ) -> list[StoredEvent]: ...

    def read_stream(
        self, stream: str, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]: ...


@dataclass(frozen=True, slots=True)
class WorkspaceRepair:
    workspace_id: str
    generation: str
    events: int
    operations: int


class _AccountsFromRedis(MemoryReadModel):
    """The workspace's streams from the in-memory fold; accounts from the live generation."""

    def __init__(self, live: RedisView) -> None:
        super().__init__()
        self._live = live

    def state(self, stream: str) -> tuple[int, State | None]:
        if stream.startswith("account:"):
            return self._live.state(stream)
        return super().state(stream)


def replay_workspace(store: WorkspaceEvents, redis: Any, workspace_id: str) -> WorkspaceRepair:
    """Make the live generation's records of one workspace equal to the fold of the store."""
    workspace_id = workspace_id.lower()
    events = _workspace_events(store, workspace_id)
    apply = redis.register_script(APPLY_SCRIPT)
    cluster = ClusterApplier(redis) if is_cluster(redis) else None
    for _ in range(_ATTEMPTS):
        generation = live_generation(redis)
        if generation is None:
            raise NoGenerationError("no live generation: run `readmodel replay` first")
        live = RedisView(redis, generation)
        model = _AccountsFromRedis(live)
        model.fold_all(events)
        desired, streams = _desired(model, workspace_id)
        live.prefetch(streams)
        checks = [(stream, live.state(stream)[0]) for stream in streams]
        apps = frozenset(stream.split(":", 1)[1] for stream in streams if stream.startswith("app:"))
        scope = WorkspaceScope(workspace_id, apps)
        actual = _actual(redis, generation, scope, _candidates(redis, generation, scope, desired, streams))
        ops = diff(actual, desired)
        if cluster is not None:
            applied = cluster.apply(generation, _cluster_change(model, checks, ops)).status == OK
        else:
            args: list[Any] = ["", keys.LIVE_POINTER, 0, len(checks)]
            for stream, version in checks:
                args.extend((keys.stream_state(stream), version))
            args.append(0)  # no fan-out set walked
            args.append(len(ops))
            for op in ops:
                args.extend(op)
            answer = apply(keys=[], args=args)
            applied = (answer.decode() if isinstance(answer, bytes) else str(answer)) == "ok"
        if applied:
            return WorkspaceRepair(workspace_id, generation, len(events), len(ops))
    raise RuntimeError(f"workspace {workspace_id} kept changing while it was being rebuilt; try again")


def _cluster_change(model: MemoryReadModel, checks: list[tuple[str, int]], ops: list[Op]) -> BatchChange:
    """The repair as a cluster applies it: each state moves only from the version read live,
    and no record is written over one derived from a later version."""
    by_state: dict[str, list[Op]] = {}
    records: list[Op] = []
    states = {keys.stream_state(stream): stream for stream, _ in checks}
    for op in ops:
        stream = states.get(op[1])
        if stream is None:
            records.append(op)
        else:
            by_state.setdefault(stream, []).append(op)
    folded = {stream: model.state(stream)[0] for stream, _ in checks}
    return BatchChange(
        position=0,
        checks=tuple(checks),
        states=tuple(
            StateChange(stream, live, folded[stream], tuple(by_state[stream]))
            for stream, live in checks
            if stream in by_state
        ),
        parts=(ChangePart(tuple((s, v, v) for s, v in folded.items()), tuple(records)),),
    )


def _workspace_events(store: WorkspaceEvents, workspace_id: str) -> list[StoredEvent]:
    horizon = store.settled_horizon()
    found: list[StoredEvent] = []
    after: tuple[str, int] | None = None
    while True:
        page = store.read_workspace(workspace_id, horizon, after, 5000)
        found.extend(page)
        if len(page) < 5000:
            break
        after = (page[-1].event.stream, page[-1].event.version)
    found.sort(key=lambda stored: stored.position)
    return found


def _desired(model: _AccountsFromRedis, workspace_id: str) -> tuple[Records, list[str]]:
    """The records the workspace's streams own, and those streams."""
    records: Records = {}
    streams: list[str] = []
    for key in list(model.hashes):
        if not key.startswith("st:"):
            continue
        stream = key[len("st:") :]
        if stream.startswith("account:"):
            continue
        version, state = model.state(stream)
        streams.append(stream)
        records.update(stream_records(stream, version, state))
        if isinstance(state, WorkspaceState):
            records.update(workspace_records(state))
        elif isinstance(state, AppState):
            _, account = model.state(f"account:{state.created_by}")
            _, workspace = model.state(f"workspace:{workspace_id}")
            author = account.name if isinstance(account, AccountState) else None
            ws_name = workspace.name if isinstance(workspace, WorkspaceState) else None
            records.update(app_records(state, author, ws_name))
    return records, streams


def _candidates(
    redis: Any, generation: str, scope: WorkspaceScope, desired: Records, streams: list[str]
) -> set[str]:
    """Keys that may hold the workspace's records: the desired ones, its streams' and apps'
    keys, and the membership keys of accounts the live generation still lists as members."""
    found = {key for _, key, _ in desired}
    found.update(keys.stream_state(stream) for stream in streams)
    for app_id in scope.app_ids:
        found.update((keys.app(scope.workspace_id, app_id), keys.app_workspace(app_id)))
    for member in redis.hkeys(keys.full_key(generation, keys.workspace_members(scope.workspace_id))):
        account_id = member.decode()
        found.update((keys.account_workspaces(account_id), keys.account_current(account_id)))
    return found


def _actual(redis: Any, generation: str, scope: WorkspaceScope, candidates: set[str]) -> Records:
    """What the live generation holds of the workspace, among `candidates` and its own keys."""
    candidates = set(candidates)
    candidates.update(
        key.decode()[len(keys.full_key(generation, "")) :]
        for key in redis.scan_iter(
            match=keys.full_key(generation, keys.workspace(scope.workspace_id)) + "*", count=1000
        )
    )
    ordered = sorted(candidates)
    pipe = redis.pipeline(transaction=False)
    for key in ordered:
        pipe.type(keys.full_key(generation, key))
    kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in pipe.execute()]
    pipe = redis.pipeline(transaction=False)
    for key, kind in zip(ordered, kinds, strict=True):
        full = keys.full_key(generation, key)
        if kind == "hash":
            pipe.hgetall(full)
        elif kind == "zset":
            pipe.zrange(full, 0, -1, withscores=True)
        else:
            pipe.smembers(full)
    actual: Records = {}
    for key, kind, value in zip(ordered, kinds, pipe.execute(), strict=True):
        if kind == "hash":
            members: list[tuple[str, RecordKey, RecordValue]] = [
                (f.decode(), (HASH, key, f.decode()), raw) for f, raw in value.items()
            ]
        elif kind == "zset":
            members = [(m.decode(), (ZSET, key, m.decode()), float(score)) for m, score in value]
        else:
            members = [(m.decode(), (SET, key, m.decode()), b"") for m in value]
        for member, record_key, record_value in members:
            if scope.owns_member(key, member):
                actual[record_key] = record_value
    return actual
