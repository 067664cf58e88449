"""Folded state of each stream kind, kept in the read model beside the documents.

States are frozen; the fold replaces them, never mutates them. How a state is kept in Redis
(`encode_state`, `decode_state`) is decided here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.readmodel.owners import owner_id


@dataclass(frozen=True, slots=True)
class Membership:
    role: str
    jpos: int  # store position of the join event


@dataclass(frozen=True, slots=True)
class WorkspaceState:
    id: str
    name: str
    status: str = "normal"
    created_at: str = ""  # already in Dify's rendering
    members: dict[str, Membership] = field(default_factory=dict)
    # account_id -> position of the latest event here that made this workspace the account's
    # current one (a join with current: true, or member_made_current); kept after leaving.
    current_joins: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountState:
    id: str
    name: str
    email: str
    status: str
    avatar: str | None = None


@dataclass(frozen=True, slots=True)
class AppState:
    id: str
    workspace_id: str
    name: str
    description: str
    mode: str
    status: str
    enable_api: bool
    is_universal: bool
    created_by: str
    created_at_us: int
    updated_at: str  # already in Dify's rendering
    tags: tuple[str, ...] = ()
    source: str | None = None  # "model_config" | "workflow" | None (nothing published)
    features: dict[str, Any] = field(default_factory=dict)
    user_input_form: tuple[Any, ...] = ()
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class SessionState:
    id: str
    token_hash: str
    prefix: str
    subject_type: str
    account_id: str | None
    subject_email: str | None
    subject_issuer: str | None
    client_id: str
    device_label: str | None
    created_at: str  # rendered with a Z
    created_at_ms: int
    expires_at: str | None
    expires_at_ms: int | None
    last_used_at: str | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class MembershipView:
    """An account's membership of one workspace, as the account's owner keeps it: folded from
    the workspace's events that create it or name the account, and nothing else."""

    workspace_id: str
    role: str | None = None
    jpos: int | None = None  # store position of the join
    current: int | None = None  # position of the latest event that made it the current workspace


State = WorkspaceState | AccountState | AppState | SessionState | MembershipView

# The kind of state a slot holds, by (owner kind, stream kind): an owner's own streams hold
# their kind's state; an account's copy of a workspace stream holds a membership.
MEMBERSHIP = "membership"


# --- the stored form ---------------------------------------------------------------------
# A state is kept as a JSON array of its fields in a fixed order, without their names and
# without what its key already says (the stream's id, an app's workspace). An app keeps in
# it only what its documents do not show: its published configuration (its features and
# input form) is the `params` document in the same hash, which holds exactly what rendering
# needs of it; a visible app's name, description, mode, author, tags and update time are in
# its list row (`ws:{W}:rows`), its API switch is its `api` field; a deleted app, which no
# later event can change, keeps only its author. `decode_state` reads them back from those
# (`shared.readmodel.keys.STATE_FIELDS`, and the row). Changing this encoding is a change of
# layout (`shared.readmodel.keys.LIVE_POINTER`).

_APP_FIELDS = (
    "name",
    "description",
    "mode",
    "status",
    "enable_api",
    "is_universal",
    "created_by",
    "created_at_us",
    "updated_at",
    "tags",
    "source",
)
_SESSION_FIELDS = (
    "token_hash",
    "prefix",
    "subject_type",
    "account_id",
    "subject_email",
    "subject_issuer",
    "client_id",
    "device_label",
    "created_at",
    "created_at_ms",
    "expires_at",
    "expires_at_ms",
    "last_used_at",
    "revoked",
)


# What a visible app's documents do not show.
_VISIBLE_APP_FIELDS = ("is_universal", "created_at_us", "source")


def stored_state(version: int, state: State | None) -> bytes:
    """The one field of a stream state's hash (`v`): the version applied, a space, then the
    state's stored form. One field, not two: in a hash Redis keeps as a table (an app's with
    its documents) every field costs about 60 bytes beside its value."""
    return b"%d " % version + encode_state(state)


def split_stored(raw: bytes) -> tuple[int, bytes]:
    """The version and the state's stored form in a `stored_state` field."""
    version, _, state = raw.partition(b" ")
    return int(version), state


def encode_state(state: State | None) -> bytes:
    """The stored form of a state (the `s` field of its stream state's hash)."""
    if state is None:
        return b"null"
    if isinstance(state, AppState):
        if state.deleted:
            return orjson.dumps([state.created_by])
        shown = state.status == "normal"  # documents are written for it (derive.app_records)
        return orjson.dumps(
            [getattr(state, name) for name in (_VISIBLE_APP_FIELDS if shown else _APP_FIELDS)]
        )
    if isinstance(state, WorkspaceState):
        members = {account: [m.role, m.jpos] for account, m in state.members.items()}
        return orjson.dumps([state.name, state.status, state.created_at, members, state.current_joins])
    if isinstance(state, AccountState):
        return orjson.dumps([state.name, state.email, state.status, state.avatar])
    if isinstance(state, SessionState):
        return orjson.dumps([getattr(state, name) for name in _SESSION_FIELDS])
    return orjson.dumps([state.role, state.jpos, state.current])


def state_kind(owner: str, stream: str) -> str:
    """What `owner` keeps of `stream`: the stream kind's state, or an account's membership."""
    kind = stream.partition(":")[0]
    return MEMBERSHIP if kind == "workspace" and owner.startswith("account:") else kind


def decode_state(
    owner: str, stream: str, raw: bytes | str | None, documents: Mapping[str, bytes | None] | None = None
) -> State | None:
    """Rebuild the state `owner` keeps of `stream` from its stored form; `documents`: where
    the rest of an app's is, the other fields of its hash (`params`, `api`) and its `row`."""
    if raw is None:
        return None
    data = orjson.loads(raw)
    if data is None:
        return None
    kind = state_kind(owner, stream)
    stream_id = stream.partition(":")[2]
    if kind == MEMBERSHIP:
        role, jpos, current = data
        return MembershipView(workspace_id=stream_id, role=role, jpos=jpos, current=current)
    if kind == "workspace":
        name, status, created_at, members, current_joins = data
        return WorkspaceState(
            id=stream_id,
            name=name,
            status=status,
            created_at=created_at,
            members={account: Membership(role, jpos) for account, (role, jpos) in members.items()},
            current_joins=current_joins,
        )
    if kind == "account":
        name, email, status, avatar = data
        return AccountState(id=stream_id, name=name, email=email, status=status, avatar=avatar)
    if kind == "app":
        return _decode_app(stream_id, owner_id(owner), data, documents or {})
    if kind == "session":
        return SessionState(stream_id, **dict(zip(_SESSION_FIELDS, data, strict=True)))
    raise ValueError(f"unknown stream kind {kind!r}")


def _decode_app(
    app_id: str, workspace_id: str, data: list[Any], documents: Mapping[str, bytes | None]
) -> AppState:
    if len(data) == 1:  # deleted: nothing but its author is ever read again
        return AppState(
            id=app_id,
            workspace_id=workspace_id,
            name="",
            description="",
            mode="",
            status="",
            enable_api=False,
            is_universal=False,
            created_by=data[0],
            created_at_us=0,
            updated_at="",
            deleted=True,
        )
    if len(data) == len(_APP_FIELDS):
        fields = dict(zip(_APP_FIELDS, data, strict=True))
    else:
        fields = {**dict(zip(_VISIBLE_APP_FIELDS, data, strict=True)), **_shown(app_id, documents)}
    fields["tags"] = tuple(fields["tags"])
    features: dict[str, Any] = {}
    form: tuple[Any, ...] = ()
    if fields["source"] is not None:
        # Every key rendering reads is in the parameters, defaults filled in: rendering them
        # again as features gives the same document, whichever source they came from.
        features = orjson.loads(_document(app_id, documents, "params"))
        form = tuple(features.pop("user_input_form"))
    return AppState(id=app_id, workspace_id=workspace_id, features=features, user_input_form=form, **fields)


def _shown(app_id: str, documents: Mapping[str, bytes | None]) -> dict[str, Any]:
    """What a visible app's list row and `api` show of its state (derive._render_documents)."""
    # `<author id>{"id":…,"name":…,"description":…,"mode":…,"tags":[…],"updated_at":…,"created_by_name":`
    row = _document(app_id, documents, "row")
    shown = orjson.loads(row[36:] + b"null}")
    return {
        "name": shown["name"],
        "description": shown["description"],
        "mode": shown["mode"],
        "status": "normal",
        "enable_api": _document(app_id, documents, "api") == b"1",
        "created_by": row[:36].decode(),
        "updated_at": shown["updated_at"],
        "tags": [tag["name"] for tag in shown["tags"]],
    }


def _document(app_id: str, documents: Mapping[str, bytes | None], name: str) -> bytes:
    found = documents.get(name)
    if found is None:
        raise ValueError(f"app {app_id}: its state needs its {name!r} field, which is missing")
    return found
