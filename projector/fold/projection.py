"""One event into one atomic change of the read model, given a view of its current state.

This is the single piece of logic shared by the live projector, replay and the
verification oracle: each supplies a `StateView` (Redis, or memory) and applies the
resulting `Change` its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from projector.fold.derive import (
    account_records,
    app_records,
    session_records,
    stream_records,
    workspace_records,
)
from projector.fold.fold import fold
from projector.fold.records import Op, Records, diff
from projector.fold.state import AccountState, AppState, SessionState, State, WorkspaceState
from shared.events import StoredEvent
from shared.events.payloads import is_known_type
from shared.readmodel import keys


class StateView(Protocol):
    """What projecting needs to read: stream states and fan-out sets."""

    def state(self, stream: str) -> tuple[int, State | None]: ...

    def members(self, key: str) -> set[str]: ...

    def remember(self, change: Change) -> None:
        """Take a computed change into account for the events that follow it."""
        ...


@dataclass(frozen=True, slots=True)
class Change:
    """An event's effect: apply `ops` only if every checked stream is at its expected version."""

    position: int
    stream: str
    version: int
    state: State | None
    # (stream, expected version); the first is the event's own stream at version - 1.
    checks: tuple[tuple[str, int], ...]
    ops: tuple[Op, ...]
    skipped: str | None = None  # why the event changed nothing but its stream's version


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The stream is already at or past this event's version."""

    current: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Versions `first`..`last` of `stream` must be applied before this event."""

    stream: str
    first: int
    last: int


def project(stored: StoredEvent, view: StateView) -> Change | Duplicate | Gap:
    """The change `stored` makes; raises EventValidationError for an invalid payload."""
    event = stored.event
    version, state = view.state(event.stream)
    if event.version <= version:
        return Duplicate(version)
    if event.version > version + 1:
        return Gap(event.stream, version + 1, event.version - 1)
    skipped: str | None = None
    if is_known_type(event.type):
        new_state = fold(state, event.payload(), event, stored.position)
    else:
        new_state, skipped = state, f"unknown event type {event.type!r}"
    checks: list[tuple[str, int]] = [(event.stream, version)]
    # The stream's own records are always rewritten, so the "before" side needs none of them.
    old: Records = {}
    new = stream_records(event.stream, event.version, new_state)
    _entity_records(view, state, new_state, checks, old, new)
    return Change(
        position=stored.position,
        stream=event.stream,
        version=event.version,
        state=new_state,
        checks=tuple(checks),
        ops=tuple(diff(old, new)),
        skipped=skipped,
    )


def _entity_records(
    view: StateView,
    state: State | None,
    new_state: State | None,
    checks: list[tuple[str, int]],
    old: Records,
    new: Records,
) -> None:
    entity = new_state if new_state is not None else state
    if isinstance(entity, AppState):
        assert state is None or isinstance(state, AppState)
        assert new_state is None or isinstance(new_state, AppState)
        author, ws_name = _app_context(view, entity, checks)
        old.update(app_records(state, author, ws_name, render=False))
        new.update(app_records(new_state, author, ws_name))
    elif isinstance(entity, AccountState):
        assert state is None or isinstance(state, AccountState)
        assert new_state is None or isinstance(new_state, AccountState)
        old.update(account_records(state))
        new.update(account_records(new_state))
        old_name = None if state is None else state.name
        new_name = None if new_state is None else new_state.name
        if old_name != new_name:  # a rename, or the account arriving after its apps
            _fan_out_author(view, entity.id, old_name, new_name, checks, old, new)
    elif isinstance(entity, WorkspaceState):
        assert state is None or isinstance(state, WorkspaceState)
        assert new_state is None or isinstance(new_state, WorkspaceState)
        old.update(workspace_records(state))
        new.update(workspace_records(new_state))
        old_name = None if state is None else state.name
        new_name = None if new_state is None else new_state.name
        if old_name != new_name:  # a rename, or the workspace arriving after its apps
            _fan_out_workspace_name(view, entity.id, old_name, new_name, checks, old, new)
    elif isinstance(entity, SessionState):
        assert state is None or isinstance(state, SessionState)
        assert new_state is None or isinstance(new_state, SessionState)
        old.update(session_records(state))
        new.update(session_records(new_state))


def _app_context(
    view: StateView, app: AppState, checks: list[tuple[str, int]]
) -> tuple[str | None, str | None]:
    """The creating account's name and the workspace's name, noting the versions read."""
    account_stream = f"account:{app.created_by}"
    account_version, account = view.state(account_stream)
    checks.append((account_stream, account_version))
    workspace_stream = f"workspace:{app.workspace_id}"
    workspace_version, workspace = view.state(workspace_stream)
    checks.append((workspace_stream, workspace_version))
    author = account.name if isinstance(account, AccountState) else None
    ws_name = workspace.name if isinstance(workspace, WorkspaceState) else None
    return author, ws_name


def _fan_out_author(
    view: StateView,
    account_id: str,
    old_name: str | None,
    new_name: str | None,
    checks: list[tuple[str, int]],
    old: Records,
    new: Records,
) -> None:
    """An account rename re-renders every app it created."""
    for app in _apps(view, keys.account_apps(account_id), checks):
        workspace_stream = f"workspace:{app.workspace_id}"
        workspace_version, workspace = view.state(workspace_stream)
        checks.append((workspace_stream, workspace_version))
        ws_name = workspace.name if isinstance(workspace, WorkspaceState) else None
        old.update(app_records(app, old_name, ws_name, render=False))
        new.update(app_records(app, new_name, ws_name))


def _fan_out_workspace_name(
    view: StateView,
    workspace_id: str,
    old_name: str | None,
    new_name: str | None,
    checks: list[tuple[str, int]],
    old: Records,
    new: Records,
) -> None:
    """A workspace rename re-renders every app row of the workspace."""
    for app in _apps(view, keys.workspace_apps(workspace_id), checks):
        account_stream = f"account:{app.created_by}"
        account_version, account = view.state(account_stream)
        checks.append((account_stream, account_version))
        author = account.name if isinstance(account, AccountState) else None
        old.update(app_records(app, author, old_name, render=False))
        new.update(app_records(app, author, new_name))


def _apps(view: StateView, set_key: str, checks: list[tuple[str, int]]) -> list[AppState]:
    apps: list[AppState] = []
    for app_id in sorted(view.members(set_key)):
        stream = f"app:{app_id}"
        version, app = view.state(stream)
        checks.append((stream, version))
        if isinstance(app, AppState):
            apps.append(app)
    return apps
