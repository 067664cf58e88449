"""Deriving an owner's read-model records from the states it holds: pure, no I/O.

Every record derives from one state held by one owner, and lands in that owner's keys
(shared/readmodel/keys.py). Names another owner keeps (an app's author) are not copied into
documents: the documents keep the author's id and the read script puts in the name from the
workspace's own copy (`author_records`), so an account's rename rewrites one field per
workspace, not a document per app.
"""

from __future__ import annotations

import orjson

from projector.fold.records import HASH, ZSET, Records
from projector.fold.state import (
    AccountState,
    AppState,
    MembershipView,
    SessionState,
    State,
    WorkspaceState,
    stored_state,
)
from shared.readmodel import keys
from shared.readmodel.documents import (
    input_schema,
    parameters,
    tag_list,
    workflow_features,
)


def stream_records(owner_id: str, stream: str, version: int, state: State | None) -> Records:
    """The version and folded state of a stream, kept by its owner beside the records."""
    return {(HASH, keys.stream_state(owner_id, stream), "v"): stored_state(version, state)}


def workspace_records(state: WorkspaceState | None) -> Records:
    if state is None:
        return {}
    ws = state.id
    key = keys.workspace(ws)
    # The end of every list row: the workspace's id and name, after the author's name.
    tail = b',"workspace_id":' + orjson.dumps(ws) + b',"workspace_name":' + orjson.dumps(state.name) + b"}"
    records: Records = {
        (HASH, key, "name"): state.name.encode(),
        (HASH, key, "status"): state.status.encode(),
        (HASH, key, "created"): state.created_at.encode(),
        (HASH, key, "tail"): tail,
    }
    for account_id, membership in state.members.items():
        records[(HASH, keys.workspace_members(ws), account_id)] = membership.role.encode()
    return records


def author_records(workspace_id: str, account_id: str, state: AccountState | None) -> Records:
    """A workspace's copy of the name of an account that created one of its apps."""
    if state is None:
        return {}
    return {(HASH, keys.app_authors(workspace_id), account_id): orjson.dumps(state.name)}


def membership_records(account_id: str, view: MembershipView | None) -> Records:
    """An account's entries for one workspace: its membership and when it was made current."""
    if view is None:
        return {}
    records: Records = {}
    if view.role is not None and view.jpos is not None:
        records[(HASH, keys.account_workspaces(account_id), view.workspace_id)] = orjson.dumps(
            {"role": view.role, "jpos": view.jpos},
        )
    if view.current is not None:
        records[(ZSET, keys.account_current(account_id), view.workspace_id)] = float(view.current)
    return records


def membership_view(workspace_id: str, account_id: str, state: WorkspaceState | None) -> MembershipView:
    """What an account keeps of a workspace state folded from the events naming it."""
    membership = None if state is None else state.members.get(account_id)
    current = None if state is None else state.current_joins.get(account_id)
    return MembershipView(
        workspace_id=workspace_id,
        role=None if membership is None else membership.role,
        jpos=None if membership is None else membership.jpos,
        current=current,
    )


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


def app_records(workspace_id: str, state: AppState | None, *, render: bool = True) -> Records:
    """An app's documents and index entries in its workspace's keys.

    With `render=False` the documents are left empty: enough to know which records exist,
    which is all the "before" side of a change needs, at a fraction of the cost.
    """
    if state is None or state.deleted:
        return {}
    app_id, ws = state.id, workspace_id
    key = keys.app(ws, app_id)
    records: Records = {}
    if state.source is not None:
        # Kept while the app is not deleted, visible or not: it is also where the app's state
        # keeps its published configuration (projector/fold/state.py).
        records[(HASH, key, "params")] = _parameters(state) if render else b""
    if state.status != "normal":
        return records  # hidden from every read
    # Written while the app is visible, and only then: the reads serve an app that has it.
    # An app whose service API is off answers 403 on its own routes and is not listed.
    records[(HASH, key, "api")] = b"1" if state.enable_api else b"0"
    if render:
        _render_documents(records, key, ws, state)
    else:
        if state.source is not None:
            records[(HASH, key, "schema")] = b""
        records[(HASH, keys.app_rows(ws), app_id)] = b""
    if state.enable_api and not state.is_universal:
        score = float(state.created_at_us)
        records[(ZSET, keys.app_index(ws), app_id)] = score
        records[(ZSET, keys.mode_index(ws, state.mode), app_id)] = score
        for tag in state.tags:
            records[(ZSET, keys.tag_index(ws, tag), app_id)] = score
        # Lower-cased as PostgreSQL's ILIKE compares, which Dify's name filter uses.
        records[(HASH, keys.app_names(ws), app_id)] = state.name.lower().encode()
    return records


def _parameters(state: AppState) -> bytes:
    model_config = state.source == "model_config"
    features = state.features if model_config else workflow_features(state.features)
    return orjson.dumps(parameters(features, list(state.user_input_form), model_config=model_config))


def app_locator(state: AppState | None) -> dict[str, bytes]:
    """The fields of the app's locator (`keys.app_workspace`): its workspace while visible."""
    if state is None or state.deleted or state.status != "normal":
        return {}
    return {"ws": state.workspace_id.encode()}


def _render_documents(records: Records, key: str, ws: str, state: AppState) -> None:
    app_id = state.id
    author = state.created_by.encode()  # a UUID: 36 characters, where the read script finds it
    tags = tag_list(state.tags)
    row = orjson.dumps(
        {
            "id": app_id,
            "name": state.name,
            "description": state.description,
            "mode": state.mode,
            "tags": tags,
            "updated_at": state.updated_at,
        },
    )
    # Found by a UUID-valued name too, listed or not (read_apps.lua). The app's summary and
    # info are cut from it by the API (documents.summary_from_row, info_from_row): stored once.
    records[(HASH, keys.app_rows(ws), app_id)] = author + row[:-1] + b',"created_by_name":'
    # With nothing published the API answers Dify's empty schema itself (query_api/bodies.py):
    # stored once per app it would be the same bytes in every hash.
    if state.source is not None:
        records[(HASH, key, "schema")] = orjson.dumps(input_schema(list(state.user_input_form), state.mode))


def session_records(owner_id: str, state: SessionState | None) -> Records:
    """A live session's row and its entry in its subject's session set."""
    if state is None or state.revoked:
        return {}
    if state.account_id is not None:
        subject_key = keys.account_sessions(owner_id)
    else:
        subject_key = keys.sso_sessions(owner_id)
    records: Records = {
        (HASH, keys.session_expiries(owner_id), state.id): _expiry(state),
        (HASH, keys.session_rows(owner_id), state.id): orjson.dumps(
            {
                "id": state.id,
                "prefix": state.prefix,
                "client_id": state.client_id,
                "device_label": state.device_label,
                "created_at": state.created_at,
                "last_used_at": state.last_used_at,
                "expires_at": state.expires_at,
            },
        ),
        (ZSET, subject_key, state.id): float(state.created_at_ms),
    }
    return records


def token_fields(state: SessionState | None, account_status: str | None) -> dict[str, bytes]:
    """What authentication reads of a session's token; an account's live token also carries
    the account's status, so that one key (on a cluster: one slot) answers both."""
    if state is None:
        return {}
    fields = {
        "sid": state.id.encode(),
        "st": state.subject_type.encode(),
        "acct": (state.account_id or "").encode(),
        "email": (state.subject_email or "").encode(),
        "iss": (state.subject_issuer or "").encode(),
        "exp": _expiry(state),
        "rev": b"1" if state.revoked else b"0",
    }
    if state.account_id is not None and not state.revoked:
        fields["as"] = (account_status or "").encode()
    return fields


def _expiry(state: SessionState) -> bytes:
    return b"" if state.expires_at_ms is None else str(state.expires_at_ms).encode()
