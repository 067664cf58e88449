"""Who is calling: the session a token names, as the read model knows it."""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT = "account"
EXTERNAL_SSO = "external_sso"
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
