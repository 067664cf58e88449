"""Folded state of each stream kind, kept in the read model beside the documents.

States are frozen and JSON-encodable; the fold replaces them, never mutates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


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


def encode_state(state: State | None) -> bytes:
    # orjson encodes (slotted, nested) dataclasses natively: far faster than asdict().
    return orjson.dumps(state)


def state_kind(owner: str, stream: str) -> str:
    """What `owner` keeps of `stream`: the stream kind's state, or an account's membership."""
    kind = stream.partition(":")[0]
    return MEMBERSHIP if kind == "workspace" and owner.startswith("account:") else kind


def decode_state(kind: str, raw: bytes | str | None) -> State | None:
    """Rebuild a state from its JSON; `kind` is the stream kind (or `state_kind`'s answer)."""
    if raw is None:
        return None
    data = orjson.loads(raw)
    if data is None:
        return None
    if kind == MEMBERSHIP:
        return MembershipView(**data)
    if kind == "workspace":
        return WorkspaceState(
            id=data["id"],
            name=data["name"],
            status=data["status"],
            created_at=data.get("created_at", ""),
            members={k: Membership(**m) for k, m in data["members"].items()},
            current_joins=dict(data["current_joins"]),
        )
    if kind == "account":
        return AccountState(**data)
    if kind == "app":
        data["tags"] = tuple(data["tags"])
        data["user_input_form"] = tuple(data["user_input_form"])
        return AppState(**data)
    if kind == "session":
        return SessionState(**data)
    raise ValueError(f"unknown stream kind {kind!r}")
