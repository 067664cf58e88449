"""Response bodies of the read model's answers; stored documents are spliced, never re-encoded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from shared.auth.subjects import AuthContext
from shared.envelope import PageRequest, PaginationEnvelope, render_spliced
from shared.readmodel.documents import (
    UNPUBLISHED_INPUT_SCHEMA,
    UNPUBLISHED_PARAMETERS,
    with_system_parameters,
)
from shared.readmodel.reads import INFO, INPUT_SCHEMA, PARAMETERS, AccountRead, Member, Membership
from shared.settings import UploadLimits

_NULL = b"null"
_UNPUBLISHED_SCHEMA = orjson.dumps(UNPUBLISHED_INPUT_SCHEMA)


def system_parameters(limits: UploadLimits) -> bytes:
    """The `system_parameters` object, rendered once from the server's settings."""
    return orjson.dumps(
        {
            "image_file_size_limit": limits.image_file_size_limit,
            "video_file_size_limit": limits.video_file_size_limit,
            "audio_file_size_limit": limits.audio_file_size_limit,
            "file_size_limit": limits.file_size_limit,
            "workflow_file_upload_limit": limits.workflow_file_upload_limit,
        },
    )


def page_body(page: int, limit: int, total: int, rows: Sequence[bytes]) -> bytes:
    """A list page: stored row documents spliced into the envelope."""
    return render_spliced(PaginationEnvelope(page=page, limit=limit, total=total, data=rows))


def empty_page(page: PageRequest) -> bytes:
    return page_body(page.page, page.limit, 0, ())


def parameters_body(stored: bytes, system: bytes) -> bytes:
    return with_system_parameters(stored, system)


def describe_body(fields: dict[str, bytes | None], system: bytes) -> bytes:
    """`{info, parameters, input_schema}`: blocks not asked for are null; unpublished apps get
    Dify's placeholders instead of failing."""
    info = fields.get(INFO) or _NULL
    parameters = _NULL
    if PARAMETERS in fields:
        stored = fields[PARAMETERS]
        parameters = UNPUBLISHED_PARAMETERS if stored is None else with_system_parameters(stored, system)
    schema = _NULL
    if INPUT_SCHEMA in fields:
        schema = fields[INPUT_SCHEMA] or _UNPUBLISHED_SCHEMA
    return b'{"info":' + info + b',"parameters":' + parameters + b',"input_schema":' + schema + b"}"


def workspaces_body(read: AccountRead) -> bytes:
    """`{"workspaces": [...]}`, oldest workspace first (by its creation time, as Dify orders)."""
    current = read.current_workspace_id
    ordered = sorted(read.memberships, key=lambda m: (m.created_at or "", m.workspace_id))
    return orjson.dumps({"workspaces": [_summary(m, current) for m in ordered]})


def workspace_body(membership: Membership, read: AccountRead) -> bytes:
    """One workspace of the caller's, with its creation time."""
    body = _summary(membership, read.current_workspace_id)
    body["created_at"] = membership.created_at
    return orjson.dumps(body)


def _summary(membership: Membership, current: str | None) -> dict[str, Any]:
    return {
        "id": membership.workspace_id,
        "name": membership.name,
        "role": membership.role,
        "status": membership.status or "normal",
        "current": membership.workspace_id == current,
    }


def members_body(page: PageRequest, members: Sequence[Member]) -> bytes:
    """A page of a workspace's members."""
    rows = [
        orjson.dumps(
            {
                "id": m.account_id,
                "name": m.name,
                "email": m.email,
                "role": m.role,
                "status": m.status,
                "avatar": m.avatar,
            },
        )
        for m in members[page.offset : page.offset + page.limit]
    ]
    return page_body(page.page, page.limit, len(members), rows)


def account_body(ctx: AuthContext, read: AccountRead) -> bytes:
    """The caller as /account shows it: its account, its memberships, its default workspace."""
    memberships = read.memberships
    default = read.current_workspace_id or (memberships[0].workspace_id if memberships else None)
    body: dict[str, Any] = {
        "subject_type": ctx.subject_type,
        "subject_email": read.email,
        "subject_issuer": None,
        "account": {"id": ctx.account_id, "email": read.email, "name": read.name},
        "workspaces": [{"id": m.workspace_id, "name": m.name, "role": m.role} for m in memberships],
        "default_workspace_id": default,
    }
    return orjson.dumps(body)
