"""Deriving an entity's read-model records from its folded state: pure, no I/O."""

from __future__ import annotations

import orjson

from projector.fold.records import HASH, SET, ZSET, Records
from projector.fold.state import AccountState, AppState, SessionState, State, WorkspaceState, encode_state
from shared.readmodel import keys
from shared.readmodel.documents import (
    AGENT_MODES,
    UNPUBLISHED_INPUT_SCHEMA,
    input_schema,
    parameters,
    tag_list,
    workflow_features,
)

# The rendered fields of an app's document hash: they also derive from its author's and its
# workspace's names. Its other records (visibility, indexes, locator) derive from the app alone.
APP_DOCUMENTS = frozenset({"row", "summary", "info", "params", "schema"})


def stream_records(stream: str, version: int, state: State | None) -> Records:
    """The stream's version and folded state, kept beside the documents."""
    key = keys.stream_state(stream)
    return {(HASH, key, "v"): str(version).encode(), (HASH, key, "s"): encode_state(state)}


def workspace_records(state: WorkspaceState | None) -> Records:
    if state is None:
        return {}
    ws = state.id
    records: Records = {
        (HASH, keys.workspace(ws), "name"): state.name.encode(),
        (HASH, keys.workspace(ws), "status"): state.status.encode(),
        (HASH, keys.workspace(ws), "created"): state.created_at.encode(),
    }
    for account_id, membership in state.members.items():
        records[(HASH, keys.workspace_members(ws), account_id)] = membership.role.encode()
        records[(HASH, keys.account_workspaces(account_id), ws)] = orjson.dumps(
            {"role": membership.role, "jpos": membership.jpos},
        )
    for account_id, position in state.current_joins.items():
        records[(ZSET, keys.account_current(account_id), ws)] = float(position)
    return records


def account_records(state: AccountState | None) -> Records:
    if state is None:
        return {}
    key = keys.account(state.id)
    records: Records = {
        (HASH, key, "name"): state.name.encode(),
        (HASH, key, "email"): state.email.encode(),
        (HASH, key, "status"): state.status.encode(),
    }
    if state.avatar is not None:
        records[(HASH, key, "avatar")] = state.avatar.encode()
    return records


def app_records(
    state: AppState | None, author: str | None, workspace_name: str | None, *, render: bool = True
) -> Records:
    """An app's documents and index entries; `author` and `workspace_name` are denormalised in.

    With `render=False` the documents are left empty: enough to know which records exist,
    which is all the "before" side of a change needs, at a fraction of the cost.
    """
    if state is None or state.deleted:
        return {}
    app_id, ws = state.id, state.workspace_id
    records: Records = {
        (SET, keys.workspace_apps(ws), app_id): b"",
        (SET, keys.account_apps(state.created_by), app_id): b"",
    }
    if state.status != "normal":
        return records  # hidden from every read; kept in the fan-out sets only
    records[(HASH, keys.app_workspace(app_id), "ws")] = ws.encode()
    key = keys.app(ws, app_id)
    records[(HASH, key, "vis")] = b"1"
    # An app whose service API is off answers 403 on its own routes and is not listed.
    records[(HASH, key, "api")] = b"1" if state.enable_api else b"0"
    if render:
        _render_documents(records, key, state, author, workspace_name)
    else:
        for field in ("row", "summary", "info", "schema"):
            records[(HASH, key, field)] = b""
        if state.source is not None:
            records[(HASH, key, "params")] = b""
    if state.enable_api and not state.is_universal:
        score = float(state.created_at_us)
        records[(ZSET, keys.app_index(ws), app_id)] = score
        records[(ZSET, keys.mode_index(ws, state.mode), app_id)] = score
        for tag in state.tags:
            records[(ZSET, keys.tag_index(ws, tag), app_id)] = score
        # Lower-cased as PostgreSQL's ILIKE compares, which Dify's name filter uses.
        records[(HASH, keys.app_names(ws), app_id)] = state.name.lower().encode()
    return records


def _render_documents(
    records: Records, key: str, state: AppState, author: str | None, workspace_name: str | None
) -> None:
    app_id, ws = state.id, state.workspace_id
    tags = tag_list(state.tags)
    records[(HASH, key, "row")] = orjson.dumps(
        {
            "id": app_id,
            "name": state.name,
            "description": state.description,
            "mode": state.mode,
            "tags": tags,
            "updated_at": state.updated_at,
            "created_by_name": author,
            "workspace_id": ws,
            "workspace_name": workspace_name,
        },
    )
    records[(HASH, key, "summary")] = orjson.dumps(
        {
            "id": app_id,
            "name": state.name,
            "description": state.description,
            "mode": state.mode,
            "author": author,
            "tags": tags,
        },
    )
    records[(HASH, key, "info")] = orjson.dumps(
        {
            "id": app_id,
            "name": state.name,
            "description": state.description,
            "mode": state.mode,
            "author": author,
            "tags": tags,
            "updated_at": state.updated_at,
            "service_api_enabled": state.enable_api,
            "is_agent": state.mode in AGENT_MODES,
        },
    )
    if state.source is None:
        records[(HASH, key, "schema")] = orjson.dumps(UNPUBLISHED_INPUT_SCHEMA)
    else:
        form = list(state.user_input_form)
        model_config = state.source == "model_config"
        features = state.features if model_config else workflow_features(state.features)
        records[(HASH, key, "params")] = orjson.dumps(parameters(features, form, model_config=model_config))
        records[(HASH, key, "schema")] = orjson.dumps(input_schema(form, state.mode))


def session_records(state: SessionState | None, account_status: str | None = None) -> Records:
    """A session's token and row; an account's token also carries the account's status, so
    authentication reads one key (on a cluster: one slot) for both."""
    if state is None:
        return {}
    expires = b"" if state.expires_at_ms is None else str(state.expires_at_ms).encode()
    token_key = keys.token(state.token_hash)
    records: Records = {
        (HASH, token_key, "sid"): state.id.encode(),
        (HASH, token_key, "st"): state.subject_type.encode(),
        (HASH, token_key, "acct"): (state.account_id or "").encode(),
        (HASH, token_key, "email"): (state.subject_email or "").encode(),
        (HASH, token_key, "iss"): (state.subject_issuer or "").encode(),
        (HASH, token_key, "exp"): expires,
        (HASH, token_key, "rev"): b"1" if state.revoked else b"0",
    }
    if state.revoked:
        return records  # a revoked session only answers "token unknown or revoked"
    if state.account_id is not None:
        records[(HASH, token_key, "as")] = (account_status or "").encode()
    if state.account_id is not None:
        owner, subject_key = state.account_id, keys.account_sessions(state.account_id)
    else:
        owner = keys.sso_subject(state.subject_email, state.subject_issuer)
        subject_key = keys.sso_sessions(owner)
    session_key = keys.session(owner, state.id)
    records[(HASH, session_key, "exp")] = expires
    records[(HASH, session_key, "row")] = orjson.dumps(
        {
            "id": state.id,
            "prefix": state.prefix,
            "client_id": state.client_id,
            "device_label": state.device_label,
            "created_at": state.created_at,
            "last_used_at": state.last_used_at,
            "expires_at": state.expires_at,
        },
    )
    records[(ZSET, subject_key, state.id)] = float(state.created_at_ms)
    return records
