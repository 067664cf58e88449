"""Rebuilding one workspace in place: fold its events from the store, then repair Redis.

A whole-model rebuild writes a new generation; one workspace does not need that. Its
streams (the workspace and its apps) are folded from the store in memory, their records
derived with the live accounts' names, compared with what the live generation holds, and
the difference is applied with the same guarded apply script as the projector: if the live
projector moved any of those streams meanwhile, the repair is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from projector.fold.derive import app_records, stream_records, workspace_records
from projector.fold.memory import MemoryReadModel
from projector.fold.records import HASH, SET, ZSET, RecordKey, Records, RecordValue, diff
from projector.fold.state import AccountState, AppState, State, WorkspaceState
from projector.generations import live_generation
from projector.writer.redis_projector import APPLY_SCRIPT, NoGenerationError
from projector.writer.redis_view import RedisView
from shared.events import StoredEvent
from shared.readmodel import keys

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
        actual = _actual(redis, generation, desired, workspace_id, streams)
        ops = diff(actual, desired)
        args: list[Any] = ["", keys.LIVE_POINTER, 0, len(checks)]
        for stream, version in checks:
            args.extend((keys.stream_state(stream), version))
        args.append(len(ops))
        for op in ops:
            args.extend(op)
        answer = apply(keys=[], args=args)
        if (answer.decode() if isinstance(answer, bytes) else str(answer)) == "ok":
            return WorkspaceRepair(workspace_id, generation, len(events), len(ops))
    raise RuntimeError(f"workspace {workspace_id} kept changing while it was being rebuilt; try again")


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


def _actual(
    redis: Any, generation: str, desired: Records, workspace_id: str, streams: list[str]
) -> dict[RecordKey, RecordValue]:
    """What the live generation holds under the same keys, plus the workspace's own keys."""
    wanted_keys = {key for _, key, _ in desired}
    wanted_keys.update(keys.stream_state(stream) for stream in streams)
    wanted_keys.update(
        key.decode()[len(keys.full_key(generation, "")) :]
        for key in redis.scan_iter(match=keys.full_key(generation, f"ws:{{{workspace_id}}}*"), count=1000)
    )
    app_ids = {stream.split(":", 1)[1] for stream in streams if stream.startswith("app:")}
    wanted_keys.update(keys.app(app_id) for app_id in app_ids)
    # Members the live generation still lists may have left: look at their side too.
    for member in redis.hkeys(keys.full_key(generation, keys.workspace_members(workspace_id))):
        account_id = member.decode()
        wanted_keys.update((keys.account_workspaces(account_id), keys.account_current(account_id)))
    owned_fields = {(key, member) for _, key, member in desired}
    actual: dict[RecordKey, RecordValue] = {}
    pipe = redis.pipeline(transaction=False)
    ordered = sorted(wanted_keys)
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
    for key, kind, value in zip(ordered, kinds, pipe.execute(), strict=True):
        whole = _owned_whole(key, workspace_id, app_ids)
        # An account's membership entries are keyed by workspace: this one's are ours.
        by_workspace = key.startswith("acct:") and key.endswith((":ws", ":cur"))
        if kind == "hash":
            for field, raw in value.items():
                name = field.decode()
                if whole or (key, name) in owned_fields or (by_workspace and name == workspace_id):
                    actual[(HASH, key, name)] = raw
        elif kind == "zset":
            for member, score in value:
                name = member.decode()
                if whole or (key, name) in owned_fields or (by_workspace and name == workspace_id):
                    actual[(ZSET, key, name)] = float(score)
        elif kind == "set":
            for member in value:
                name = member.decode()
                if whole or (key, name) in owned_fields or name in app_ids:
                    actual[(SET, key, name)] = b""
    return actual


def _owned_whole(key: str, workspace_id: str, app_ids: set[str]) -> bool:
    """Keys that belong to the workspace entirely (others are shared with other workspaces)."""
    if f"{{{workspace_id}}}" in key or key == keys.stream_state(f"workspace:{workspace_id}"):
        return True
    kind, _, rest = key.partition(":")
    if kind == "app":
        return rest in app_ids
    return kind == "st" and rest.startswith("app:") and rest[4:] in app_ids
