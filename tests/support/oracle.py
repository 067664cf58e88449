"""An oracle of the read model of its own: what the store's events mean, the slow and plain way.

It shares nothing with the projector's fold (`projector.fold`): it reads the event contract
(`shared.events`: the payloads and their validation) and renders documents with the
renderers the golden kit holds to Dify (`shared.readmodel.documents`), and does everything
else itself, over plain dicts: each stream's events in version order up to the first that
cannot be applied, then what every workspace, app, account, session and token comes to.
`served` reads a Redis dump into the same shape, completing rows and documents the way the
read scripts do, so the two compare as what the API would answer from.

The rules beyond the contract, as the projector applies them:
- an event for an entity that does not exist yet changes nothing, except its stream's
  version; a stream stops at its first invalid event (it waits behind its dead letter);
- an app belongs to the workspace of its stream's first event, a session to the subject
  its stream's first event (its issue) names; a session whose stream starts otherwise has
  no records;
- an account keeps its memberships of a workspace from the workspace's events that create it
  or name the account, whatever became of the workspace's other events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.errors import EventValidationError
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
    SessionIssued,
    SessionRevoked,
    SessionUsed,
    StoredEvent,
    WorkspaceCreated,
    WorkspaceMemberJoined,
    WorkspaceMemberLeft,
    WorkspaceMemberMadeCurrent,
    WorkspaceMemberRoleChanged,
    WorkspaceRenamed,
    WorkspaceStatusChanged,
)
from shared.events.payloads import is_known_type
from shared.readmodel import documents, keys


@dataclass
class Model:
    """The read model as the API would answer from it."""

    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # W -> name, status, created
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # W -> account -> role
    indexes: dict[str, dict[str, float]] = field(default_factory=dict)  # index key -> app -> score
    names: dict[str, dict[str, str]] = field(default_factory=dict)  # W -> app -> lower-cased name
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # visible app -> its documents
    locators: dict[str, str] = field(default_factory=dict)  # visible app -> W
    accounts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    memberships: dict[str, dict[str, Any]] = field(default_factory=dict)  # account -> W -> {role, jpos}
    current: dict[str, dict[str, float]] = field(default_factory=dict)  # account -> W -> position
    sessions: dict[str, dict[str, tuple[float | None, bytes | None, bytes | None]]] = field(
        default_factory=dict
    )  # account or SSO subject -> session -> (score, row, expiry)
    tokens: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


# --- what the events mean ----------------------------------------------------------------


def expected(events: Iterable[StoredEvent]) -> Model:
    """The read model the store's events make."""
    streams: dict[str, list[StoredEvent]] = {}
    for stored in sorted(events, key=lambda s: s.position):
        streams.setdefault(stored.event.stream, []).append(stored)
    applied = {stream: _applicable(found) for stream, found in streams.items()}
    workspaces = {s.split(":", 1)[1]: _workspace(e) for s, e in applied.items() if s.startswith("workspace:")}
    accounts = {s.split(":", 1)[1]: _account(e) for s, e in applied.items() if s.startswith("account:")}
    model = Model()
    for workspace_id, workspace in workspaces.items():
        if workspace is None:
            continue
        model.workspaces[workspace_id] = {
            "name": workspace["name"].encode(),
            "status": workspace["status"].encode(),
            "created": workspace["created_at"].encode(),
        }
        if workspace["members"]:
            model.members[workspace_id] = {a: m["role"] for a, m in workspace["members"].items()}
    for account_id, account in accounts.items():
        if account is not None:
            model.accounts[account_id] = {k: v.encode() for k, v in account.items() if v is not None}
    for stream, found in applied.items():
        if stream.startswith("app:") and streams[stream][0].event.workspace_id:
            _app_documents(
                model, streams[stream][0].event.workspace_id or "", _app(found), workspaces, accounts
            )
        elif stream.startswith("session:"):
            _session_records(model, streams[stream][0].event, _session(found), accounts)
    _memberships(model, streams)
    return model


def _applicable(found: list[StoredEvent]) -> list[tuple[StoredEvent, Any]]:
    """A stream's events with their payloads, in version order, up to the first one that
    cannot be applied (None for a type this code does not know: skipped, but counted)."""
    kept: list[tuple[StoredEvent, Any]] = []
    for version, stored in enumerate(sorted(found, key=lambda s: s.event.version), start=1):
        if stored.event.version != version:
            break
        if not is_known_type(stored.event.type):
            kept.append((stored, None))
            continue
        try:
            kept.append((stored, stored.event.payload()))
        except EventValidationError:
            break
    return kept


def _occurred(event: Event) -> datetime:
    return datetime.fromisoformat(event.occurred_at)


def _workspace(found: list[tuple[StoredEvent, Any]]) -> dict[str, Any] | None:
    workspace: dict[str, Any] | None = None
    for stored, payload in found:
        if isinstance(payload, WorkspaceCreated):
            created = documents.dify_timestamp(payload.created_at or _occurred(stored.event))
            kept = workspace or {"members": {}, "current": {}}
            workspace = {**kept, "name": payload.name, "status": payload.status, "created_at": created}
        elif workspace is None:
            continue
        elif isinstance(payload, WorkspaceRenamed):
            workspace["name"] = payload.name
        elif isinstance(payload, WorkspaceStatusChanged):
            workspace["status"] = payload.status
        else:
            _member_event(workspace, stored, payload)
    return workspace


def _member_event(workspace: dict[str, Any], stored: StoredEvent, payload: Any) -> None:
    members, current = workspace["members"], workspace["current"]
    if isinstance(payload, WorkspaceMemberJoined):
        members[payload.account_id] = {"role": payload.role, "jpos": stored.position}
        if payload.current:
            current[payload.account_id] = stored.position
    elif isinstance(payload, WorkspaceMemberRoleChanged) and payload.account_id in members:
        members[payload.account_id]["role"] = payload.role
    elif isinstance(payload, WorkspaceMemberLeft):
        members.pop(payload.account_id, None)
    elif isinstance(payload, WorkspaceMemberMadeCurrent) and payload.account_id in members:
        current[payload.account_id] = stored.position


def _memberships(model: Model, streams: dict[str, list[StoredEvent]]) -> None:
    """Each account's memberships: per workspace, its events that create it or name the account."""
    for stream, found in streams.items():
        if not stream.startswith("workspace:"):
            continue
        workspace_id = stream.split(":", 1)[1]
        named: set[str] = set()
        for stored in found:
            member = (
                stored.event.data.get("account_id")
                if stored.event.type.startswith("workspace.member_")
                else None
            )
            if isinstance(member, str):
                named.add(member.lower())
        for account_id in named:
            relevant = [
                s
                for s in found
                if s.event.type == "workspace.created"
                or str(s.event.data.get("account_id", "")).lower() == account_id
            ]
            workspace: dict[str, Any] | None = None
            for stored in sorted(relevant, key=lambda s: s.event.version):
                try:
                    payload = stored.event.payload()
                except EventValidationError:
                    break
                if isinstance(payload, WorkspaceCreated):
                    workspace = workspace or {"members": {}, "current": {}}
                elif workspace is not None:
                    _member_event(workspace, stored, payload)
            if workspace is None:
                continue
            membership = workspace["members"].get(account_id)
            if membership is not None:
                model.memberships.setdefault(account_id, {})[workspace_id] = dict(membership)
            if account_id in workspace["current"]:
                model.current.setdefault(account_id, {})[workspace_id] = float(
                    workspace["current"][account_id]
                )


def _account(found: list[tuple[StoredEvent, Any]]) -> dict[str, str | None] | None:
    account: dict[str, str | None] | None = None
    for _, payload in found:
        if isinstance(payload, AccountCreated):
            account = {
                "name": payload.name,
                "email": payload.email,
                "status": payload.status,
                "avatar": payload.avatar,
            }
        elif isinstance(payload, AccountUpdated) and account is not None:
            for name in ("name", "email", "status"):
                if getattr(payload, name) is not None:
                    account[name] = getattr(payload, name)
            if payload.avatar_changed:
                account["avatar"] = payload.avatar
    return account


def _app(found: list[tuple[StoredEvent, Any]]) -> dict[str, Any] | None:
    app: dict[str, Any] | None = None
    for stored, payload in found:
        if isinstance(payload, AppCreated):
            if app is None:
                app = {
                    "id": stored.event.stream_id,
                    "workspace_id": stored.event.workspace_id,
                    "name": payload.name,
                    "description": payload.description,
                    "mode": payload.mode,
                    "status": payload.status,
                    "enable_api": payload.enable_api,
                    "is_universal": payload.is_universal,
                    "created_by": payload.created_by,
                    "created_at": documents.epoch_micros(payload.created_at),
                    "updated_at": documents.dify_timestamp(payload.updated_at),
                    "tags": list(dict.fromkeys(payload.tags)),
                    "published": None,
                    "deleted": False,
                }
            continue
        if app is None or app["deleted"]:
            continue
        if isinstance(payload, AppUpdated):
            for name in ("name", "description", "status", "enable_api", "is_universal"):
                if getattr(payload, name) is not None:
                    app[name] = getattr(payload, name)
            if payload.updated_at is not None:
                app["updated_at"] = documents.dify_timestamp(payload.updated_at)
        elif isinstance(payload, AppTagsSet):
            app["tags"] = list(dict.fromkeys(payload.tags))
        elif isinstance(payload, AppModelConfigPublished):
            form = payload.config.get("user_input_form", [])
            features = {k: v for k, v in payload.config.items() if k != "user_input_form"}
            app["published"] = ("model_config", features, list(form))
        elif isinstance(payload, AppWorkflowPublished):
            features = {k: v for k, v in payload.features.items() if k != "user_input_form"}
            app["published"] = ("workflow", features, documents.wrap_start_variables(payload.start_variables))
        elif isinstance(payload, AppDeleted):
            app["deleted"] = True
    return app


def _app_documents(
    model: Model,
    workspace_id: str,
    app: dict[str, Any] | None,
    workspaces: dict[str, dict[str, Any] | None],
    accounts: dict[str, dict[str, str | None] | None],
) -> None:
    if app is None or app["deleted"] or app["status"] != "normal":
        return
    app_id = app["id"]
    author_account = accounts.get(app["created_by"])
    author = None if author_account is None else author_account["name"]
    workspace = workspaces.get(workspace_id)
    tags = [{"name": tag} for tag in app["tags"]]
    row = {
        "id": app_id,
        "name": app["name"],
        "description": app["description"],
        "mode": app["mode"],
        "tags": tags,
        "updated_at": app["updated_at"],
        "created_by_name": author,
        "workspace_id": app["workspace_id"],
        "workspace_name": None if workspace is None else workspace["name"],
    }
    summary = {k: app[k] for k in ("id", "name", "description", "mode")} | {"author": author, "tags": tags}
    info = summary | {
        "updated_at": app["updated_at"],
        "service_api_enabled": app["enable_api"],
        "is_agent": app["mode"] in ("agent-chat", "advanced-chat"),
    }
    published = app["published"]
    if published is None:
        params, schema = None, documents.UNPUBLISHED_INPUT_SCHEMA
    else:
        source, features, form = published
        model_config = source == "model_config"
        shown = features if model_config else documents.workflow_features(features)
        params = documents.parameters(shown, form, model_config=model_config)
        schema = documents.input_schema(form, app["mode"])
    model.apps[app_id] = {
        "workspace": workspace_id,
        "api": app["enable_api"],
        "row": orjson.dumps(row),
        "summary": orjson.dumps(summary),
        "info": orjson.dumps(info),
        "params": None if params is None else orjson.dumps(params),
        "schema": orjson.dumps(schema),
    }
    model.locators[app_id] = workspace_id
    if app["enable_api"] and not app["is_universal"]:
        score = float(app["created_at"])
        for index in (
            keys.app_index(workspace_id),
            keys.mode_index(workspace_id, app["mode"]),
            *(keys.tag_index(workspace_id, tag) for tag in app["tags"]),
        ):
            model.indexes.setdefault(index, {})[app_id] = score
        model.names.setdefault(workspace_id, {})[app_id] = app["name"].lower()


def _session(found: list[tuple[StoredEvent, Any]]) -> dict[str, Any] | None:
    session: dict[str, Any] | None = None
    for stored, payload in found:
        if isinstance(payload, SessionIssued):
            if session is None:
                session = {
                    "id": stored.event.stream_id,
                    "issued": payload,
                    "last_used_at": None,
                    "revoked": False,
                }
        elif session is None:
            continue
        elif isinstance(payload, SessionUsed):
            session["last_used_at"] = documents.zulu_timestamp(payload.last_used_at)
        elif isinstance(payload, SessionRevoked):
            session["revoked"] = True
    return session


def _session_records(
    model: Model,
    first: Event,
    session: dict[str, Any] | None,
    accounts: dict[str, dict[str, str | None] | None],
) -> None:
    if session is None or first.type != "session.issued":
        return  # a stream that does not start with its issue has no owner to show it
    issued: SessionIssued = session["issued"]
    expires = b"" if issued.expires_at is None else str(documents.epoch_millis(issued.expires_at)).encode()
    token = {
        "sid": session["id"].encode(),
        "st": issued.subject_type.encode(),
        "acct": (issued.account_id or "").encode(),
        "email": (issued.subject_email or "").encode(),
        "iss": (issued.subject_issuer or "").encode(),
        "exp": expires,
        "rev": b"1" if session["revoked"] else b"0",
    }
    if issued.account_id is not None and not session["revoked"]:
        account = accounts.get(issued.account_id)
        token["as"] = (account["status"] or "").encode() if account else b""
    model.tokens[issued.token_hash] = token
    if session["revoked"]:
        return
    subject = issued.account_id or keys.sso_subject(issued.subject_email, issued.subject_issuer)
    row = {
        "id": session["id"],
        "prefix": issued.prefix,
        "client_id": issued.client_id,
        "device_label": issued.device_label,
        "created_at": documents.zulu_timestamp(issued.created_at),
        "last_used_at": session["last_used_at"],
        "expires_at": documents.zulu_timestamp(issued.expires_at),
    }
    created = float(documents.epoch_millis(issued.created_at))
    model.sessions.setdefault(subject, {})[session["id"]] = (created, orjson.dumps(row), expires)


# --- what Redis holds, as the reads see it ------------------------------------------------


def served(dump: dict[str, Any]) -> Model:
    """A generation's keys (`dump_generation`) in the oracle's shape: rows and documents
    completed with the names the workspace keeps, as the read scripts complete them."""
    model = Model()
    for key, value in dump.items():
        tag = keys.owner_tag(key)
        if key.startswith("st:"):
            continue
        if key.startswith("ws:{") and key.endswith("}"):
            model.workspaces[tag or ""] = {k: value[k] for k in ("name", "status", "created")}
        elif key.endswith("}:members"):
            model.members[tag or ""] = {a: r.decode() for a, r in value.items()}
        elif ":idx" in key:
            model.indexes[key] = dict(value)
        elif key.endswith("}:names"):
            model.names[tag or ""] = {a: n.decode() for a, n in value.items()}
        elif key.startswith("app:{") and tag is not None:
            # The app's state lives here too; the reads serve an app only while it has `api`.
            if "api" in value:
                model.apps[key.rsplit(":", 1)[1]] = _documents(dump, tag, key.rsplit(":", 1)[1], value)
        elif key.startswith("app:{"):
            if "ws" in value:
                model.locators[key.rsplit(":", 1)[1]] = value["ws"].decode()
        elif key.startswith("acct:{") and key.endswith("}"):
            model.accounts[tag or ""] = dict(value)
        elif key.endswith("}:ws"):
            model.memberships[tag or ""] = {w: orjson.loads(m) for w, m in value.items()}
        elif key.endswith("}:cur"):
            model.current[tag or ""] = dict(value)
        elif key.endswith("}:sessions") or key.startswith("sess:{"):
            owner = tag or ""
            listed = dump.get(keys.account_sessions(owner)) or dump.get(keys.sso_sessions(owner), {})
            rows = dump.get(keys.session_rows(owner), {})
            expiries = dump.get(keys.session_expiries(owner), {})
            # A row or expiry left behind by a session no longer listed shows as one with no
            # score, which the oracle never has.
            model.sessions[owner] = {
                sid: (listed.get(sid), rows.get(sid), expiries.get(sid))
                for sid in {*listed, *rows, *expiries}
            }
        elif key.startswith("tok:"):
            model.tokens[key.rsplit(":", 1)[1]] = {
                k: v for k, v in value.items() if k not in keys.VERSION_FIELDS
            }
    return model


def _documents(
    dump: dict[str, Any], workspace_id: str, app_id: str, fields: dict[str, bytes]
) -> dict[str, Any]:
    authors = dump.get(keys.app_authors(workspace_id), {})
    stored_row = dump[keys.app_rows(workspace_id)][app_id]
    author = authors.get(stored_row[:36].decode(), b"null")
    tail = dump.get(keys.workspace(workspace_id), {}).get(
        "tail", b',"workspace_id":' + orjson.dumps(workspace_id) + b',"workspace_name":null}'
    )
    api = fields["api"] == b"1"
    return {
        "workspace": workspace_id,
        "api": api,
        "row": stored_row[36:] + author + tail,
        # The summary and info are cut from the row by the API.
        "summary": documents.summary_from_row(stored_row[36:], author),
        "info": documents.info_from_row(stored_row[36:], author, api_enabled=api),
        "params": fields.get("params"),
        # The API answers the unpublished schema for an app that stores none (query_api/bodies.py).
        "schema": fields.get("schema") or orjson.dumps(documents.UNPUBLISHED_INPUT_SCHEMA),
    }
