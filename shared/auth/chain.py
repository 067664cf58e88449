"""Dify's `/openapi/v1` auth pipeline as plain functions, decided in Dify's order.

Dify's guard extracts the bearer, authenticates it (prefix, then the token's record), refuses
token types the route does not take, then runs the account pipeline: its *prepare* steps
load the app, its workspace or the workspace the request names, the account and the
caller's role there; its *auth* steps check the app's service API, the scope, the
membership and that a `workspace_id` given to a per-app route is the app's. Each step here
raises the error Dify raises at that point, or returns what the next one needs. The facts
come from the request's one read of the read model; nothing here knows HTTP or Redis.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from shared.auth.errors import Forbidden, NotFound, TokenExpired, Unauthorized, Unprocessable
from shared.auth.scopes import satisfies, token_kind
from shared.auth.subjects import ACCOUNT, ACTIVE, AuthContext, TokenRecord

BEARER_REQUIRED = "bearer required"
UNKNOWN_PREFIX = "unknown token prefix"
UNKNOWN_OR_REVOKED = "token unknown or revoked"
UNSUPPORTED_TOKEN_TYPE = "unsupported_token_type"  # noqa: S105 (a message, not a secret)
ACCOUNT_NOT_FOUND = "account not found"
INSUFFICIENT_SCOPE = "insufficient_scope"
APP_NOT_FOUND = "app not found"
WORKSPACE_NOT_FOUND = "workspace not found"
WORKSPACE_UNAVAILABLE = "workspace unavailable"
SERVICE_API_DISABLED = "service_api_disabled"
WORKSPACE_MISMATCH = "workspace_id does not match app's workspace"
ARCHIVED = "archive"
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class AppFacts:
    """What the read found about the app a per-app route names.

    `workspace_id` is None when no app with that id is visible (unknown, deleted or not
    `normal`); `workspace_status` None when its workspace is unknown.
    """

    workspace_id: str | None
    api_enabled: bool
    workspace_status: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class WorkspaceFacts:
    """What the read found about the workspace a request names: its status (None: unknown)
    and the caller's role there (None: not a member)."""

    status: str | None
    role: str | None


def extract_bearer(header: str | None) -> str | None:
    """The token of an Authorization header, by Dify's rule: the first word must be `Bearer`
    (any case) and the rest, stripped, is the token, spaces and all; otherwise None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        return None
    return value.strip() or None


def token_digest(token: str) -> str:
    """The lowercase hex SHA-256 the read model files a token under."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def require_bearer(header: str | None) -> str:
    """The guard's first step: no bearer at all is a 401 `bearer required`."""
    token = extract_bearer(header)
    if token is None:
        raise Unauthorized(BEARER_REQUIRED)
    return token


def require_known_prefix(token: str) -> None:
    """A prefix no token kind has. (Dify answers 500 here; its code means a 401.)"""
    if token_kind(token) is None:
        raise Unauthorized(UNKNOWN_PREFIX)


def authenticate(token: str, record: TokenRecord | None, now_ms: int) -> AuthContext:
    """The token's session, or the 401 Dify's resolver means (it answers 500 for these).

    Unknown, revoked, or of the other kind than its prefix says: `token unknown or revoked`;
    past its expiry (judged at `now_ms`): `token_expired`.
    """
    kind = token_kind(token)
    if kind is None:
        raise Unauthorized(UNKNOWN_PREFIX)
    if record is None or record.revoked or record.subject_type != kind.subject_type:
        raise Unauthorized(UNKNOWN_OR_REVOKED)
    if (record.account_id is not None) != (kind.subject_type == ACCOUNT):
        raise Unauthorized(UNKNOWN_OR_REVOKED)
    if record.expires_at_ms is not None and record.expires_at_ms <= now_ms:
        raise TokenExpired
    return AuthContext(
        session_id=record.session_id,
        subject_type=record.subject_type,
        account_id=record.account_id,
        subject_email=record.subject_email,
        subject_issuer=record.subject_issuer,
        scopes=kind.scopes,
        account_status=record.account_status,
    )


def require_account_token(ctx: AuthContext) -> None:
    """Every read route takes account tokens only: an SSO bearer is a 403."""
    if not ctx.is_account:
        raise Forbidden(UNSUPPORTED_TOKEN_TYPE)


def require_account(ctx: AuthContext) -> None:
    """`load_account`: the token's account must exist."""
    if ctx.account_status is None:
        raise Unauthorized(ACCOUNT_NOT_FOUND)


def require_scope(ctx: AuthContext, scope: str) -> None:
    if not satisfies(ctx.scopes, scope):
        raise Forbidden(INSUFFICIENT_SCOPE)


def caller_role(ctx: AuthContext, role: str | None) -> str | None:
    """`load_workspace_role`: an account that is not active has no role anywhere."""
    return role if ctx.account_status == ACTIVE else None


def authorize_app(ctx: AuthContext, facts: AppFacts, requested_workspace: str | None, scope: str) -> str:
    """The account pipeline of a per-app route; returns the app's workspace id."""
    if facts.workspace_id is None:
        raise NotFound(APP_NOT_FOUND)
    if facts.workspace_status is None or facts.workspace_status == ARCHIVED:
        raise Forbidden(WORKSPACE_UNAVAILABLE)
    require_account(ctx)
    role = caller_role(ctx, facts.role)
    if not facts.api_enabled:
        raise Forbidden(SERVICE_API_DISABLED)
    require_scope(ctx, scope)
    if role is None:
        raise NotFound(WORKSPACE_NOT_FOUND)
    if requested_workspace and requested_workspace != facts.workspace_id:
        raise Unprocessable(WORKSPACE_MISMATCH)
    return facts.workspace_id


def authorize_workspace(ctx: AuthContext, facts: WorkspaceFacts, scope: str) -> str:
    """The account pipeline of a route in a workspace the request names (its id already
    checked with `requested_workspace`); returns the caller's role."""
    if facts.status is None or facts.status == ARCHIVED:
        raise NotFound(WORKSPACE_NOT_FOUND)
    require_account(ctx)
    role = caller_role(ctx, facts.role)
    require_scope(ctx, scope)
    if role is None:
        raise NotFound(WORKSPACE_NOT_FOUND)
    return role


def requested_workspace(raw: str | None) -> str:
    """`load_tenant_from_request`: the named workspace's canonical id; none, empty or not a
    UUID is a 404 (Dify answers before it validates anything else)."""
    canonical = canonical_uuid(raw or "")
    if canonical is None:
        raise NotFound(WORKSPACE_NOT_FOUND)
    return canonical


def canonical_uuid(text: str) -> str | None:
    """The lower-case dashed form of anything Python's UUID parser takes (upper case, no
    dashes, braces, a `urn:uuid:` prefix), or None."""
    if _CANONICAL_UUID.fullmatch(text) is not None:
        return text  # already canonical, as every id the read model hands out: no parsing
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
