"""Projecting a whole batch at once: fold every event, then derive each entity once.

The per-event `project` derives an entity's records before and after every event. A batch
only needs its net effect, so this folds the events into end states first and derives each
touched entity once, from its state at the start of the batch to its state at the end. The
result must equal applying the events one by one, which the property tests check against
the per-event oracle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from projector.fold.derive import (
    APP_DOCUMENTS,
    account_records,
    app_records,
    session_records,
    stream_records,
    workspace_records,
)
from projector.fold.fold import fold
from projector.fold.projection import Duplicate, Gap, StateView
from projector.fold.records import Op, Records, diff
from projector.fold.state import AccountState, AppState, SessionState, State, WorkspaceState
from shared.errors import EventValidationError
from shared.events import StoredEvent
from shared.events.payloads import is_known_type
from shared.readmodel import keys


@dataclass(frozen=True, slots=True)
class ChangePart:
    """The operations on one entity's records, and the stream versions they derive from.

    On one Redis a batch applies atomically, so only `BatchChange.ops` matters. A Redis
    Cluster applies a batch slot by slot, and uses `sources` (stream, start version, end
    version) to refuse a difference that does not start where the slot's records are.
    """

    sources: tuple[tuple[str, int, int], ...]
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class StateChange:
    """One stream's folded state moving from `start` to `end`: `ops` write it."""

    stream: str
    start: int
    end: int
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class BatchChange:
    """A batch's net effect: apply `ops` only if every stream read is still at its version."""

    position: int
    checks: tuple[tuple[str, int], ...]
    states: tuple[StateChange, ...]
    parts: tuple[ChangePart, ...]
    # Fan-out sets a rename or a status change walked, as (SCARD or ZCARD, key, size read):
    # a member added meanwhile by another partition's writer would be missed, so the size
    # must still be the same when the batch applies.
    sizes: tuple[tuple[str, str, int], ...] = ()

    @property
    def ops(self) -> list[Op]:
        """Every operation: the stream states, then the records."""
        found = [op for state in self.states for op in state.ops]
        for part in self.parts:
            found.extend(part.ops)
        return found


@dataclass(slots=True)
class BatchFold:
    """Folds events into end states, remembering the state each stream had at the start."""

    view: StateView
    start: dict[str, tuple[int, State | None]] = field(default_factory=dict)
    current: dict[str, tuple[int, State | None]] = field(default_factory=dict)
    changed: dict[str, None] = field(default_factory=dict)  # ordered set
    position: int = 0
    _app_index: dict[str, dict[str, dict[str, None]]] = field(default_factory=dict)
    _sizes: dict[str, tuple[str, int]] = field(default_factory=dict)

    def read(self, stream: str) -> tuple[int, State | None]:
        found = self.current.get(stream)
        if found is None:
            found = self.view.state(stream)
            self.start[stream] = found
            self.current[stream] = found
        return found

    def look_ahead(self, stream: str, events: Iterable[StoredEvent]) -> None:
        """Read a stream as of later events than Redis holds, without taking it over.

        For a stream another writer is applying: records derived from it (an app's author
        name) use the later state, but its own records and state stay that writer's.
        """
        version, state = self.read(stream)
        try:
            for stored in events:
                event = stored.event
                if event.version != version + 1:
                    break
                if is_known_type(event.type):
                    state = fold(state, event.payload(), event, stored.position)
                version = event.version
        except EventValidationError:
            pass  # its writer dead-letters it; nothing read here can depend on it
        self.start[stream] = self.current[stream] = (version, state)

    def step(self, stored: StoredEvent) -> Duplicate | Gap | str | None:
        """Fold one event; returns Duplicate, Gap, or why it was skipped (None when folded).

        Raises EventValidationError for an invalid payload, leaving the batch unchanged.
        """
        event = stored.event
        version, state = self.read(event.stream)
        if event.version <= version:
            return Duplicate(version)
        if event.version > version + 1:
            return Gap(event.stream, version + 1, event.version - 1)
        skipped: str | None = None
        if is_known_type(event.type):
            new_state = fold(state, event.payload(), event, stored.position)
        else:
            new_state, skipped = state, f"unknown event type {event.type!r}"
        self.current[event.stream] = (event.version, new_state)
        self.changed[event.stream] = None
        self.position = max(self.position, stored.position)
        return skipped

    def change(self) -> BatchChange:
        """The net operations from the start states to the end states."""
        self._app_index.clear()
        self._sizes.clear()
        states: list[StateChange] = []
        parts: list[ChangePart] = []
        apps: dict[str, None] = {}
        sessions: dict[str, None] = {}
        for stream in list(self.changed):
            version, end = self.current[stream]
            start_version, begin = self.start[stream]
            states.append(
                StateChange(
                    stream, start_version, version, tuple(diff({}, stream_records(stream, version, end)))
                )
            )
            kind, _, entity_id = stream.partition(":")
            if kind == "app":
                apps[stream] = None
            elif kind == "account":
                assert begin is None or isinstance(begin, AccountState)
                assert end is None or isinstance(end, AccountState)
                parts.append(self._part((stream,), account_records(begin), account_records(end)))
                if _name(begin) != _name(end):
                    apps.update(self._fan_out(keys.account_apps(entity_id), "created_by", entity_id))
                if _status(begin) != _status(end):
                    sessions.update(self._account_sessions(entity_id))
            elif kind == "workspace":
                assert begin is None or isinstance(begin, WorkspaceState)
                assert end is None or isinstance(end, WorkspaceState)
                parts.append(self._part((stream,), workspace_records(begin), workspace_records(end)))
                if _name(begin) != _name(end):
                    apps.update(self._fan_out(keys.workspace_apps(entity_id), "workspace_id", entity_id))
            elif kind == "session":
                sessions[stream] = None
        for stream in apps:
            parts.extend(self._apps(stream))
        for stream in sessions:
            parts.append(self._session(stream))
        return BatchChange(
            position=self.position,
            checks=tuple((stream, version) for stream, (version, _) in self.start.items()),
            states=tuple(states),
            parts=tuple(part for part in parts if part.ops),
            sizes=tuple((command, key, size) for key, (command, size) in self._sizes.items()),
        )

    def _part(self, streams: tuple[str, ...], old: Records, new: Records) -> ChangePart:
        sources = tuple((stream, self.start[stream][0], self.current[stream][0]) for stream in streams)
        return ChangePart(sources, tuple(diff(old, new)))

    def _account_sessions(self, account_id: str) -> dict[str, None]:
        """Every live session of an account, whose tokens carry its status: those in Redis
        plus those this batch changed."""
        streams = dict.fromkeys(
            f"session:{sid}" for sid in sorted(self.view.members(keys.account_sessions(account_id)))
        )
        for stream in self.changed:
            if stream.startswith("session:"):
                _, state = self.current[stream]
                if isinstance(state, SessionState) and state.account_id == account_id:
                    streams[stream] = None
        return streams

    def _session(self, stream: str) -> ChangePart:
        self.read(stream)
        _, begin = self.start[stream]
        _, end = self.current[stream]
        assert begin is None or isinstance(begin, SessionState)
        assert end is None or isinstance(end, SessionState)
        subject = end or begin
        if subject is None or subject.account_id is None:
            return self._part((stream,), session_records(begin), session_records(end))
        account_stream = f"account:{subject.account_id}"
        self.read(account_stream)
        before, after = _status(self.start[account_stream][1]), _status(self.current[account_stream][1])
        return self._part(
            (stream, account_stream), session_records(begin, before), session_records(end, after)
        )

    def _fan_out(self, set_key: str, attribute: str, entity_id: str) -> dict[str, None]:
        """Every app a rename reaches: those in Redis plus those this batch changed."""
        members = self.view.members(set_key)
        self._sizes[set_key] = ("SCARD", len(members))
        streams = dict.fromkeys(f"app:{app_id}" for app_id in sorted(members))
        streams.update(self._changed_apps_by(attribute).get(entity_id, {}))
        return streams

    def _changed_apps_by(self, attribute: str) -> dict[str, dict[str, None]]:
        """The batch's changed apps grouped by creator or workspace (built once per batch)."""
        index = self._app_index.get(attribute)
        if index is None:
            index = {}
            for stream in self.changed:
                if stream.startswith("app:"):
                    _, state = self.current[stream]
                    if isinstance(state, AppState):
                        index.setdefault(getattr(state, attribute), {})[stream] = None
            self._app_index[attribute] = index
        return index

    def _apps(self, stream: str) -> list[ChangePart]:
        """An app's records in three parts, by what they derive from: the locator, indexes and
        workspace set from the app alone; its entry in its creator's app set from the app and
        the creator (so joining it cannot pass a rename of the creator unseen); the rendered
        documents from the app, its creator and its workspace."""
        self.read(stream)
        _, begin = self.start[stream]
        _, end = self.current[stream]
        assert begin is None or isinstance(begin, AppState)
        assert end is None or isinstance(end, AppState)
        # Which records exist depends on the app alone, so the "before" side needs no names.
        old = _split_app_records(app_records(begin, None, None, render=False), begin)
        if end is None:
            return [self._part((stream,), records, {}) for records in old]
        account_stream, workspace_stream = f"account:{end.created_by}", f"workspace:{end.workspace_id}"
        _, account = self.read(account_stream)
        _, workspace = self.read(workspace_stream)
        new = _split_app_records(app_records(end, _name(account), _name(workspace)), end)
        return [
            self._part((stream,), old[0], new[0]),
            self._part((stream, account_stream), old[1], new[1]),
            self._part((stream, account_stream, workspace_stream), old[2], new[2]),
        ]


def _split_app_records(records: Records, state: AppState | None) -> tuple[Records, Records, Records]:
    """(what derives from the app alone, its entry in its creator's app set, its rendered
    documents) of an app's records."""
    own: Records = {}
    author: Records = {}
    documents: Records = {}
    creator_set = keys.account_apps(state.created_by) if state is not None else None
    for record_key, value in records.items():
        if record_key[2] in APP_DOCUMENTS:
            documents[record_key] = value
        elif record_key[1] == creator_set:
            author[record_key] = value
        else:
            own[record_key] = value
    return own, author, documents


def _status(state: State | None) -> str | None:
    return state.status if isinstance(state, AccountState) else None


def _name(state: State | None) -> str | None:
    if isinstance(state, (AccountState, WorkspaceState)):
        return state.name
    return None
