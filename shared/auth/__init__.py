"""Dify's auth pipeline: token kinds, scopes and the checks every protected route applies.

No HTTP framework and no Redis here: the checks work over what the request's read found.
"""

from shared.auth.chain import (
    AppFacts,
    WorkspaceFacts,
    authenticate,
    authorize_app,
    authorize_workspace,
    canonical_uuid,
    extract_bearer,
    requested_workspace,
    require_account,
    require_account_token,
    require_bearer,
    require_known_prefix,
    require_scope,
    token_digest,
)
from shared.auth.scopes import APPS_READ, APPS_RUN, FULL, WORKSPACE_READ, scopes_for_token, token_kind
from shared.auth.subjects import ACCOUNT, EXTERNAL_SSO, AuthContext, TokenRecord

__all__ = [
    "ACCOUNT",
    "APPS_READ",
    "APPS_RUN",
    "EXTERNAL_SSO",
    "FULL",
    "WORKSPACE_READ",
    "AppFacts",
    "AuthContext",
    "TokenRecord",
    "WorkspaceFacts",
    "authenticate",
    "authorize_app",
    "authorize_workspace",
    "canonical_uuid",
    "extract_bearer",
    "requested_workspace",
    "require_account",
    "require_account_token",
    "require_bearer",
    "require_known_prefix",
    "require_scope",
    "scopes_for_token",
    "token_digest",
    "token_kind",
]
