"""Owners: who writes which keys of the read model.

Every stream has one owner, decided by its first event and never changed:

- a workspace stream, and every app stream of that workspace: `workspace:<W>`;
- an account stream: `account:<A>`;
- a session stream: the owner of whoever it authenticates, `account:<A>` for an account's
  session, `sso:<digest>` for an external SSO subject's (keys.sso_subject).

A stream whose first event says nothing of its owner (a session stream that does not start
with its issue, an app event without a workspace: only rows written around the store's
append can be like that) is owned by itself (`session:<S>`, `app:<X>`) and has no records.

An owner's keys carry its id as their hash tag (keys.py), and only the owner writes them:
events are routed to the partition of their owner, whose single active consumer applies
them. An event that other owners show facts of is delivered to those owners too, each
keeping its own copy: a membership event to the member's account, an account's events to
the workspaces of the apps it created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.events import Event
from shared.events.values import is_uuid
from shared.readmodel import keys

WORKSPACE = "workspace"
ACCOUNT = "account"
SSO = "sso"


def owner_id(owner: str) -> str:
    """The id part of an owner (`workspace:<W>` -> W): the hash tag of its keys."""
    return owner.partition(":")[2]


def owner_kind(owner: str) -> str:
    return owner.partition(":")[0]


def partition_key(owner: str) -> str:
    """What an owner's partition is hashed from: a workspace's id (as events with a workspace
    have always been routed), else the owner itself (an account's is its stream's name)."""
    kind, _, identifier = owner.partition(":")
    return identifier if kind == WORKSPACE else owner


def home_owner(event: Event, first: Event | None = None) -> str:
    """The owner of `event`'s stream, given the stream's first event (`event` itself when it
    is the first, or when None is given)."""
    first = first or event
    kind = event.stream_kind
    if kind in (WORKSPACE, ACCOUNT):
        return event.stream
    if kind == "app":
        return f"{WORKSPACE}:{first.workspace_id}" if first.workspace_id else event.stream
    if kind == "session" and first.type == "session.issued":
        return session_owner(first.data) or event.stream
    return event.stream


def session_owner(data: Mapping[str, Any]) -> str | None:
    """The owner a `session.issued` payload names, None when it names none it could."""
    account_id = data.get("account_id")
    if account_id is not None:
        return f"{ACCOUNT}:{str(account_id).lower()}" if is_uuid(account_id) else None
    email, issuer = data.get("subject_email"), data.get("subject_issuer")
    if not isinstance(email, str | None) or not isinstance(issuer, str | None):
        return None
    return f"{SSO}:{keys.sso_subject(email, issuer)}"


def named_account(event: Event) -> str | None:
    """The account a membership event, an app's creation or a session's issue names (None
    when it names none, or not as a UUID): what the store indexes as `account_id`."""
    if event.type.startswith("workspace.member_") or event.type == "session.issued":
        value = event.data.get("account_id")
    elif event.type == "app.created":
        value = event.data.get("created_by")
    else:
        return None
    return str(value).lower() if is_uuid(value) else None
