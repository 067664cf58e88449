"""Folding one event into its stream's state: pure functions, dispatched by payload type.

An event that makes no sense for the current state (an update before the create) leaves
the state as it is: the stream's version still advances, so replaying the store always
reaches the same state and nothing waits on it forever.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from projector.fold.state import (
    AccountState,
    AppState,
    Membership,
    SessionState,
    State,
    WorkspaceState,
)
from shared.events import (
    AccountCreated,
    AccountUpdated,
    AppCreated,
    AppDeleted,
    AppModelConfigPublished,
    AppTagsSet,
    AppUpdated,
    AppWorkflowPublished,
    Event,
    Payload,
    SessionIssued,
    SessionRevoked,
    SessionUsed,
    WorkspaceCreated,
    WorkspaceMemberJoined,
    WorkspaceMemberLeft,
    WorkspaceMemberMadeCurrent,
    WorkspaceMemberRoleChanged,
    WorkspaceRenamed,
    WorkspaceStatusChanged,
)
from shared.events.values import require_timestamp
from shared.readmodel.documents import (
    dify_timestamp,
    epoch_micros,
    epoch_millis,
    wrap_start_variables,
    zulu_timestamp,
)

P = TypeVar("P", bound=Payload)
S = TypeVar("S")


def replace(state: S, **changes: Any) -> S:
    """dataclasses.replace for our slotted states, without its per-call introspection."""
    copy = object.__new__(type(state))
    for name in type(state).__slots__:  # type: ignore[attr-defined]
        object.__setattr__(copy, name, changes[name] if name in changes else getattr(state, name))
    return copy


Folder = Callable[[Any, Any, Event, int], State | None]
_FOLDERS: dict[type[Payload], Folder] = {}


def _folds(payload_type: type[P]) -> Callable[[Folder], Folder]:
    def register(function: Folder) -> Folder:
        _FOLDERS[payload_type] = function
        return function

    return register


def fold(state: State | None, payload: Payload, event: Event, position: int) -> State | None:
    """The stream's state after `event` (at store `position`)."""
    return _FOLDERS[type(payload)](state, payload, event, position)


def occurred(event: Event) -> datetime:
    """The event's `occurred_at`, parsed (the envelope keeps it as text)."""
    moment = require_timestamp("occurred_at", event.occurred_at)
    assert moment is not None
    return moment


# --- workspace ---------------------------------------------------------------------------


@_folds(WorkspaceCreated)
def _workspace_created(state: WorkspaceState | None, p: WorkspaceCreated, e: Event, pos: int) -> State | None:
    created_at = dify_timestamp(p.created_at or occurred(e))
    if state is not None:
        return replace(state, name=p.name, status=p.status, created_at=created_at)
    return WorkspaceState(id=e.stream_id, name=p.name, status=p.status, created_at=created_at)


@_folds(WorkspaceRenamed)
def _workspace_renamed(state: WorkspaceState | None, p: WorkspaceRenamed, e: Event, pos: int) -> State | None:
    return None if state is None else replace(state, name=p.name)


@_folds(WorkspaceStatusChanged)
def _workspace_status_changed(
    state: WorkspaceState | None, p: WorkspaceStatusChanged, e: Event, pos: int
) -> State | None:
    return None if state is None else replace(state, status=p.status)


@_folds(WorkspaceMemberJoined)
def _member_joined(
    state: WorkspaceState | None, p: WorkspaceMemberJoined, e: Event, pos: int
) -> State | None:
    if state is None:
        return None
    members = dict(state.members)
    members[p.account_id] = Membership(role=p.role, jpos=pos)
    current_joins = dict(state.current_joins)
    if p.current:
        current_joins[p.account_id] = pos
    return replace(state, members=members, current_joins=current_joins)


@_folds(WorkspaceMemberRoleChanged)
def _member_role_changed(
    state: WorkspaceState | None, p: WorkspaceMemberRoleChanged, e: Event, pos: int
) -> State | None:
    if state is None or p.account_id not in state.members:
        return state
    members = dict(state.members)
    members[p.account_id] = replace(members[p.account_id], role=p.role)
    return replace(state, members=members)


@_folds(WorkspaceMemberLeft)
def _member_left(state: WorkspaceState | None, p: WorkspaceMemberLeft, e: Event, pos: int) -> State | None:
    if state is None or p.account_id not in state.members:
        return state
    members = {k: m for k, m in state.members.items() if k != p.account_id}
    return replace(state, members=members)


@_folds(WorkspaceMemberMadeCurrent)
def _member_made_current(
    state: WorkspaceState | None, p: WorkspaceMemberMadeCurrent, e: Event, pos: int
) -> State | None:
    # Only a member can switch to a workspace; the setting is positioned like a join with
    # `current: true`, so the latest of either wins across all the account's workspaces.
    if state is None or p.account_id not in state.members:
        return state
    current_joins = dict(state.current_joins)
    current_joins[p.account_id] = pos
    return replace(state, current_joins=current_joins)


# --- account -----------------------------------------------------------------------------


@_folds(AccountCreated)
def _account_created(state: AccountState | None, p: AccountCreated, e: Event, pos: int) -> State | None:
    return AccountState(id=e.stream_id, name=p.name, email=p.email, status=p.status, avatar=p.avatar)


@_folds(AccountUpdated)
def _account_updated(state: AccountState | None, p: AccountUpdated, e: Event, pos: int) -> State | None:
    if state is None:
        return None
    return replace(
        state,
        name=state.name if p.name is None else p.name,
        email=state.email if p.email is None else p.email,
        status=state.status if p.status is None else p.status,
        avatar=p.avatar if p.avatar_changed else state.avatar,
    )


# --- app ---------------------------------------------------------------------------------


@_folds(AppCreated)
def _app_created(state: AppState | None, p: AppCreated, e: Event, pos: int) -> State | None:
    if state is not None:
        return state
    assert e.workspace_id is not None
    return AppState(
        id=e.stream_id,
        workspace_id=e.workspace_id,
        name=p.name,
        description=p.description,
        mode=p.mode,
        status=p.status,
        enable_api=p.enable_api,
        is_universal=p.is_universal,
        created_by=p.created_by,
        created_at_us=epoch_micros(p.created_at),
        updated_at=dify_timestamp(p.updated_at),
        tags=_unique(p.tags),
    )


@_folds(AppUpdated)
def _app_updated(state: AppState | None, p: AppUpdated, e: Event, pos: int) -> State | None:
    if state is None or state.deleted:
        return state
    return replace(
        state,
        name=state.name if p.name is None else p.name,
        description=state.description if p.description is None else p.description,
        status=state.status if p.status is None else p.status,
        enable_api=state.enable_api if p.enable_api is None else p.enable_api,
        is_universal=state.is_universal if p.is_universal is None else p.is_universal,
        updated_at=state.updated_at if p.updated_at is None else dify_timestamp(p.updated_at),
    )


@_folds(AppTagsSet)
def _app_tags_set(state: AppState | None, p: AppTagsSet, e: Event, pos: int) -> State | None:
    if state is None or state.deleted:
        return state
    return replace(state, tags=_unique(p.tags))


@_folds(AppModelConfigPublished)
def _model_config_published(
    state: AppState | None, p: AppModelConfigPublished, e: Event, pos: int
) -> State | None:
    if state is None or state.deleted:
        return state
    features = {k: v for k, v in p.config.items() if k != "user_input_form"}
    return replace(
        state,
        source="model_config",
        features=features,
        user_input_form=tuple(p.config.get("user_input_form", ())),
    )


@_folds(AppWorkflowPublished)
def _workflow_published(state: AppState | None, p: AppWorkflowPublished, e: Event, pos: int) -> State | None:
    if state is None or state.deleted:
        return state
    # A user_input_form inside features is ignored in favour of the start node's variables.
    features = {k: v for k, v in p.features.items() if k != "user_input_form"}
    return replace(
        state,
        source="workflow",
        features=features,
        user_input_form=tuple(wrap_start_variables(p.start_variables)),
    )


@_folds(AppDeleted)
def _app_deleted(state: AppState | None, p: AppDeleted, e: Event, pos: int) -> State | None:
    if state is None:
        return None
    return replace(state, deleted=True)


# --- session -----------------------------------------------------------------------------


@_folds(SessionIssued)
def _session_issued(state: SessionState | None, p: SessionIssued, e: Event, pos: int) -> State | None:
    if state is not None:
        return state
    created_at = zulu_timestamp(p.created_at)
    assert created_at is not None
    return SessionState(
        id=e.stream_id,
        token_hash=p.token_hash,
        prefix=p.prefix,
        subject_type=p.subject_type,
        account_id=p.account_id,
        subject_email=p.subject_email,
        subject_issuer=p.subject_issuer,
        client_id=p.client_id,
        device_label=p.device_label,
        created_at=created_at,
        created_at_ms=epoch_millis(p.created_at),
        expires_at=zulu_timestamp(p.expires_at),
        expires_at_ms=None if p.expires_at is None else epoch_millis(p.expires_at),
    )


@_folds(SessionUsed)
def _session_used(state: SessionState | None, p: SessionUsed, e: Event, pos: int) -> State | None:
    if state is None:
        return None
    return replace(state, last_used_at=zulu_timestamp(p.last_used_at))


@_folds(SessionRevoked)
def _session_revoked(state: SessionState | None, p: SessionRevoked, e: Event, pos: int) -> State | None:
    if state is None:
        return None
    return replace(state, revoked=True)


def _unique(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Tag names in first-seen order without repeats (a name binds once)."""
    return tuple(dict.fromkeys(tags))
