"""The auth chain: subjects, scopes and the checks every protected route applies, in order.

No HTTP framework and no Redis here: the checks work over the `AuthLookup` protocol.
"""

from shared.auth.chain import (
    account_or_404,
    bearer_token,
    require_scope,
    require_workspace_member,
    token_digest,
    validate_bearer,
)
from shared.auth.scopes import APPS_READ, APPS_RUN, FULL, scopes_for_token
from shared.auth.subjects import (
    ACCEPT_ACCOUNT,
    ACCEPT_USER_ANY,
    ACCOUNT,
    EXTERNAL_SSO,
    AuthContext,
    AuthLookup,
    TokenRecord,
)

__all__ = [
    "ACCEPT_ACCOUNT",
    "ACCEPT_USER_ANY",
    "ACCOUNT",
    "APPS_READ",
    "APPS_RUN",
    "EXTERNAL_SSO",
    "FULL",
    "AuthContext",
    "AuthLookup",
    "TokenRecord",
    "account_or_404",
    "bearer_token",
    "require_scope",
    "require_workspace_member",
    "scopes_for_token",
    "token_digest",
    "validate_bearer",
]
