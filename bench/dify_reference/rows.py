"""The final state of an event history as rows of Dify's tables: a pure fold, no I/O.

Ids of rows that have no id in the events (memberships, tags, bindings) are derived from
event ids, so the same history always gives the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.dify_reference.models import (
    Account,
    App,
    Base,
    OAuthAccessToken,
    Tag,
    TagBinding,
    Tenant,
    TenantAccountJoin,
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

APP_TAG_TYPE = "app"
Row = dict[str, Any]


def naive_utc(moment: datetime) -> datetime:
    """How Dify stores a moment: `timestamp without time zone` holding UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(slots=True)
class DifyRows:
    """Rows per table, keyed by their natural key, as the events leave them."""

    tenants: dict[str, Row] = field(default_factory=dict)
    accounts: dict[str, Row] = field(default_factory=dict)
    joins: dict[tuple[str, str], Row] = field(default_factory=dict)
    apps: dict[str, Row] = field(default_factory=dict)
    tags: dict[tuple[str, str], Row] = field(default_factory=dict)
    bindings: dict[str, list[Row]] = field(default_factory=dict)
    tokens: dict[str, Row] = field(default_factory=dict)

    def tables(self) -> list[tuple[type[Base], list[Row]]]:
        """Every table with its rows, in an order that could carry foreign keys."""
        return [
            (Tenant, list(self.tenants.values())),
            (Account, list(self.accounts.values())),
            (TenantAccountJoin, list(self.joins.values())),
            (App, list(self.apps.values())),
            (Tag, list(self.tags.values())),
            (TagBinding, [row for rows in self.bindings.values() for row in rows]),
            (OAuthAccessToken, list(self.tokens.values())),
        ]


def fold_rows(events: Iterable[Event]) -> DifyRows:
    """Apply `events` (in append order) and return the rows they leave."""
    rows = DifyRows()
    for event in events:
        payload = event.payload()
        _HANDLERS[type(payload)](rows, event, payload)
    return rows


def _derived_id(event: Event, *parts: str) -> str:
    return str(uuid.uuid5(uuid.UUID(event.id), "/".join(parts)))


def _occurred(event: Event) -> datetime:
    return naive_utc(datetime.fromisoformat(event.occurred_at))


# --- workspaces -------------------------------------------------------------------------


def _workspace_created(rows: DifyRows, event: Event, payload: WorkspaceCreated) -> None:
    at = _occurred(event)
    rows.tenants[event.stream_id] = {
        "id": event.stream_id,
        "name": payload.name,
        "status": payload.status,
        "created_at": at,
        "updated_at": at,
    }


def _workspace_renamed(rows: DifyRows, event: Event, payload: WorkspaceRenamed) -> None:
    rows.tenants[event.stream_id].update(name=payload.name, updated_at=_occurred(event))


def _workspace_status_changed(rows: DifyRows, event: Event, payload: WorkspaceStatusChanged) -> None:
    rows.tenants[event.stream_id].update(status=payload.status, updated_at=_occurred(event))


def _member_joined(rows: DifyRows, event: Event, payload: WorkspaceMemberJoined) -> None:
    if payload.current:
        for (_, account_id), join in rows.joins.items():
            if account_id == payload.account_id:
                join["current"] = False
    at = _occurred(event)
    rows.joins[(event.stream_id, payload.account_id)] = {
        "id": _derived_id(event, "join"),
        "tenant_id": event.stream_id,
        "account_id": payload.account_id,
        "current": payload.current,
        "role": payload.role,
        "created_at": at,
        "updated_at": at,
    }


def _member_role_changed(rows: DifyRows, event: Event, payload: WorkspaceMemberRoleChanged) -> None:
    rows.joins[(event.stream_id, payload.account_id)].update(role=payload.role, updated_at=_occurred(event))


def _member_left(rows: DifyRows, event: Event, payload: WorkspaceMemberLeft) -> None:
    rows.joins.pop((event.stream_id, payload.account_id), None)


def _member_made_current(rows: DifyRows, event: Event, payload: WorkspaceMemberMadeCurrent) -> None:
    # Dify's switch: this join's flag set, every other join of the account cleared.
    chosen = rows.joins.get((event.stream_id, payload.account_id))
    if chosen is None:
        return
    at = _occurred(event)
    for (_, account_id), join in rows.joins.items():
        if account_id == payload.account_id and join["current"]:
            join.update(current=False, updated_at=at)
    chosen.update(current=True, updated_at=at)


# --- accounts ---------------------------------------------------------------------------


def _account_created(rows: DifyRows, event: Event, payload: AccountCreated) -> None:
    at = _occurred(event)
    rows.accounts[event.stream_id] = {
        "id": event.stream_id,
        "name": payload.name,
        "email": payload.email,
        "status": payload.status,
        "interface_language": "en-US",
        "interface_theme": "light",
        "timezone": "UTC",
        "last_active_at": at,
        "initialized_at": at,
        "created_at": at,
        "updated_at": at,
    }


def _account_updated(rows: DifyRows, event: Event, payload: AccountUpdated) -> None:
    changes = {"name": payload.name, "email": payload.email, "status": payload.status}
    row = rows.accounts[event.stream_id]
    row.update({key: value for key, value in changes.items() if value is not None})
    row["updated_at"] = _occurred(event)


# --- apps -------------------------------------------------------------------------------


def _app_created(rows: DifyRows, event: Event, payload: AppCreated) -> None:
    assert event.workspace_id is not None  # app events always name their workspace
    rows.apps[event.stream_id] = {
        "id": event.stream_id,
        "tenant_id": event.workspace_id,
        "name": payload.name,
        "description": payload.description,
        "mode": payload.mode,
        "icon_type": "emoji",
        "icon": "🤖",
        "icon_background": "#FFEAD5",
        "status": payload.status,
        "enable_site": True,
        "enable_api": payload.enable_api,
        "is_universal": payload.is_universal,
        "created_by": payload.created_by,
        "created_at": naive_utc(payload.created_at),
        "updated_by": payload.created_by,
        "updated_at": naive_utc(payload.updated_at),
    }
    _bind_tags(rows, event, payload.tags)


def _app_updated(rows: DifyRows, event: Event, payload: AppUpdated) -> None:
    changes: dict[str, Any] = {
        "name": payload.name,
        "description": payload.description,
        "status": payload.status,
        "enable_api": payload.enable_api,
        "is_universal": payload.is_universal,
        "updated_at": None if payload.updated_at is None else naive_utc(payload.updated_at),
    }
    rows.apps[event.stream_id].update({key: value for key, value in changes.items() if value is not None})


def _app_tags_set(rows: DifyRows, event: Event, payload: AppTagsSet) -> None:
    _bind_tags(rows, event, payload.tags)


def _model_config_published(rows: DifyRows, event: Event, payload: AppModelConfigPublished) -> None:
    rows.apps[event.stream_id]["app_model_config_id"] = _derived_id(event, "model_config")


def _workflow_published(rows: DifyRows, event: Event, payload: AppWorkflowPublished) -> None:
    rows.apps[event.stream_id]["workflow_id"] = _derived_id(event, "workflow")


def _app_deleted(rows: DifyRows, event: Event, payload: AppDeleted) -> None:
    rows.apps.pop(event.stream_id, None)
    rows.bindings.pop(event.stream_id, None)


def _bind_tags(rows: DifyRows, event: Event, names: Iterable[str]) -> None:
    """Replace the app's bindings; a tag is created the first time its workspace uses the name."""
    app = rows.apps[event.stream_id]
    workspace_id, creator = app["tenant_id"], app["created_by"]
    at = _occurred(event)
    bindings: list[Row] = []
    for name in dict.fromkeys(names):
        tag = rows.tags.get((workspace_id, name))
        if tag is None:
            tag = {
                "id": _derived_id(event, "tag", name),
                "tenant_id": workspace_id,
                "type": APP_TAG_TYPE,
                "name": name,
                "created_by": creator,
                "created_at": at,
            }
            rows.tags[(workspace_id, name)] = tag
        bindings.append(
            {
                "id": _derived_id(event, "binding", name),
                "tenant_id": workspace_id,
                "tag_id": tag["id"],
                "target_id": event.stream_id,
                "created_by": creator,
                "created_at": at,
            }
        )
    rows.bindings[event.stream_id] = bindings


# --- sessions ---------------------------------------------------------------------------


def _session_issued(rows: DifyRows, event: Event, payload: SessionIssued) -> None:
    rows.tokens[event.stream_id] = {
        "id": event.stream_id,
        "token_hash": payload.token_hash,
        "prefix": payload.prefix,
        "subject_type": payload.subject_type,
        "account_id": payload.account_id,
        "subject_email": payload.subject_email,
        "subject_issuer": payload.subject_issuer,
        "client_id": payload.client_id,
        "device_label": payload.device_label,
        "created_at": naive_utc(payload.created_at),
        "expires_at": None if payload.expires_at is None else naive_utc(payload.expires_at),
    }


def _session_used(rows: DifyRows, event: Event, payload: SessionUsed) -> None:
    rows.tokens[event.stream_id]["last_used_at"] = naive_utc(payload.last_used_at)


def _session_revoked(rows: DifyRows, event: Event, payload: SessionRevoked) -> None:
    rows.tokens[event.stream_id]["revoked_at"] = naive_utc(payload.revoked_at)


_HANDLERS: dict[type[Payload], Callable[[DifyRows, Event, Any], None]] = {
    WorkspaceCreated: _workspace_created,
    WorkspaceRenamed: _workspace_renamed,
    WorkspaceStatusChanged: _workspace_status_changed,
    WorkspaceMemberJoined: _member_joined,
    WorkspaceMemberRoleChanged: _member_role_changed,
    WorkspaceMemberLeft: _member_left,
    WorkspaceMemberMadeCurrent: _member_made_current,
    AccountCreated: _account_created,
    AccountUpdated: _account_updated,
    AppCreated: _app_created,
    AppUpdated: _app_updated,
    AppTagsSet: _app_tags_set,
    AppModelConfigPublished: _model_config_published,
    AppWorkflowPublished: _workflow_published,
    AppDeleted: _app_deleted,
    SessionIssued: _session_issued,
    SessionUsed: _session_used,
    SessionRevoked: _session_revoked,
}
