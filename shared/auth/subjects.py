"""Who is calling: the session a token names, and the lookups the auth chain asks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ACCOUNT = "account"
EXTERNAL_SSO = "external_sso"
ACCEPT_USER_ANY = frozenset({ACCOUNT, EXTERNAL_SSO})
ACCEPT_ACCOUNT = frozenset({ACCOUNT})
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the read model knows about one bearer token (found by the token's SHA-256)."""

    session_id: str
    subject_type: str
    account_id: str | None
    subject_email: str | None
    subject_issuer: str | None
    expires_at_ms: int | None
    revoked: bool
    account_status: str | None = None


@dataclass(frozen=True, slots=True)
class AuthContext:
    """An authenticated caller: its session, subject and granted scopes."""

    session_id: str
    subject_type: str
    account_id: str | None
    subject_email: str | None
    subject_issuer: str | None
    scopes: frozenset[str]
    account_status: str | None

    @property
    def is_account(self) -> bool:
        return self.subject_type == ACCOUNT and self.account_id is not None


class AuthLookup(Protocol):
    """The read model as the auth chain sees it."""

    def token(self, token_hash: str) -> TokenRecord | None:
        """The token with this SHA-256 hex digest, or None when unknown."""
        ...

    def role(self, account_id: str, workspace_id: str) -> str | None:
        """The account's role in the workspace, or None when it is not a member."""
        ...
