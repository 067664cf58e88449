"""Response bodies of the read model's answers; stored documents are spliced, never re-encoded."""

from __future__ import annotations

from typing import Any

import orjson

from shared.auth.subjects import AuthContext
from shared.envelope import PageRequest, PaginationEnvelope, render_spliced
from shared.readmodel.documents import (
    UNPUBLISHED_INPUT_SCHEMA,
    UNPUBLISHED_PARAMETERS,
    with_system_parameters,
)
from shared.readmodel.reads import INFO, INPUT_SCHEMA, PARAMETERS, AccountRead
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


def page_body(page: PageRequest, total: int, rows: tuple[bytes, ...]) -> bytes:
    """A list page: stored row documents spliced into the envelope."""
    return render_spliced(PaginationEnvelope(page=page.page, limit=page.limit, total=total, data=rows))


def parameters_body(stored: bytes, system: bytes) -> bytes:
    return with_system_parameters(stored, system)


def describe_body(fields: dict[str, bytes | None], system: bytes) -> bytes:
    """`{info, parameters, input_schema}`: blocks not asked for are null; unpublished apps get
    the contract's placeholders instead of failing."""
    info = fields.get(INFO) or _NULL
    parameters = _NULL
    if PARAMETERS in fields:
        stored = fields[PARAMETERS]
        parameters = UNPUBLISHED_PARAMETERS if stored is None else with_system_parameters(stored, system)
    schema = _NULL
    if INPUT_SCHEMA in fields:
        schema = fields[INPUT_SCHEMA] or _UNPUBLISHED_SCHEMA
    return b'{"info":' + info + b',"parameters":' + parameters + b',"input_schema":' + schema + b"}"


def workspaces_body(ctx: AuthContext, read: AccountRead) -> bytes:
    """`{"workspaces": [...]}` in join order; an SSO caller has none."""
    if not ctx.is_account:
        return orjson.dumps({"workspaces": []})
    current = read.current_workspace_id
    return orjson.dumps(
        {
            "workspaces": [
                {
                    "id": m.workspace_id,
                    "name": m.name,
                    "role": m.role,
                    "status": m.status or "normal",
                    "current": m.workspace_id == current,
                }
                for m in read.memberships
            ],
        },
    )


def account_body(ctx: AuthContext, read: AccountRead) -> bytes:
    """The caller as /account shows it: the session's subject, its account and memberships."""
    body: dict[str, Any] = {
        "subject_type": ctx.subject_type,
        "subject_email": ctx.subject_email,
        "subject_issuer": ctx.subject_issuer,
        "account": None,
        "workspaces": [],
        "default_workspace_id": None,
    }
    if ctx.is_account:
        body["account"] = {"id": ctx.account_id, "email": read.email, "name": read.name}
        body["workspaces"] = [
            {"id": m.workspace_id, "name": m.name, "role": m.role} for m in read.memberships
        ]
        if read.current_workspace_id is not None:
            body["default_workspace_id"] = read.current_workspace_id
        elif read.memberships:
            body["default_workspace_id"] = read.memberships[0].workspace_id
    return orjson.dumps(body)
