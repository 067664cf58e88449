"""The auth chain as plain functions, applied in the contract's order.

1. `validate_bearer`, 2. `require_scope`, 3. `account_or_404` (app routes),
4. `require_workspace_member`. Each raises the contract's error or returns what the next
step needs; none knows about HTTP frameworks or Redis.
"""

from __future__ import annotations

import hashlib

from shared.auth.errors import Forbidden, NotFound, TokenExpired, Unauthorized
from shared.auth.scopes import satisfies, scopes_for_token
from shared.auth.subjects import ACCEPT_USER_ANY, ACTIVE, AuthContext, AuthLookup

MISSING_BEARER = "missing bearer token"
UNKNOWN_PREFIX = "unknown token prefix"
UNKNOWN_OR_REVOKED = "token unknown or revoked"
APP_NOT_FOUND = "app not found"
MEMBERSHIP_REVOKED = "workspace_membership_revoked"


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; anything else is refused."""
    if not header:
        raise Unauthorized(MISSING_BEARER)
    words = header.split()
    if len(words) != 2 or words[0].lower() != "bearer":
        raise Unauthorized(MISSING_BEARER)
    return words[1]


def token_digest(token: str) -> str:
    """The lowercase hex SHA-256 the read model files a token under."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def validate_bearer(
    header: str | None,
    lookup: AuthLookup,
    now: int,
    accept: frozenset[str] = ACCEPT_USER_ANY,
) -> AuthContext:
    """Step 1: authenticate the header's token; `now` is the request time in epoch ms."""
    token = bearer_token(header)
    scopes = scopes_for_token(token)
    if scopes is None:
        raise Unauthorized(UNKNOWN_PREFIX)
    record = lookup.token(token_digest(token))
    if record is None or record.revoked:
        raise Unauthorized(UNKNOWN_OR_REVOKED)
    if record.expires_at_ms is not None and record.expires_at_ms <= now:
        raise TokenExpired
    if record.subject_type not in accept:
        raise Unauthorized(UNKNOWN_OR_REVOKED)
    return AuthContext(
        session_id=record.session_id,
        subject_type=record.subject_type,
        account_id=record.account_id,
        subject_email=record.subject_email,
        subject_issuer=record.subject_issuer,
        scopes=scopes,
        account_status=record.account_status,
    )


def require_scope(ctx: AuthContext, scope: str) -> None:
    """Step 2: the token's scopes must include `scope` (or `full`)."""
    if not satisfies(ctx.scopes, scope):
        raise Forbidden(f"insufficient_scope: {scope}")


def account_or_404(ctx: AuthContext) -> str:
    """Step 3: the caller's account id; any other subject cannot even learn an app exists."""
    if not ctx.is_account or ctx.account_id is None:
        raise NotFound(APP_NOT_FOUND)
    return ctx.account_id


def require_workspace_member(ctx: AuthContext, tenant_id: str, lookup: AuthLookup) -> str:
    """Step 4: an active account with a membership (any role) in `tenant_id`; returns the role."""
    if ctx.account_id is None or ctx.account_status != ACTIVE:
        raise Forbidden(MEMBERSHIP_REVOKED)
    role = lookup.role(ctx.account_id, tenant_id)
    if role is None:
        raise Forbidden(MEMBERSHIP_REVOKED)
    return role
