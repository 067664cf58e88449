"""Bearer tokens and the `session.issued` event that records one (by hash, never in plain)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from shared.events import Event

ACCOUNT_PREFIX = "dfoa_"
SSO_PREFIX = "dfoe_"
CLIENT_ID = "difyctl"
# 32 random bytes are 43 URL-safe base64 characters, as `secrets.token_urlsafe(32)` gives.
TOKEN_BYTES = 32


def encode_token(prefix: str, secret: bytes) -> str:
    """The token string for `secret` (TOKEN_BYTES random bytes) under `prefix`."""
    return prefix + base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")


def new_token(prefix: str = ACCOUNT_PREFIX) -> str:
    """A fresh token from the operating system's randomness."""
    return encode_token(prefix, secrets.token_bytes(TOKEN_BYTES))


def token_hash(token: str) -> str:
    """The lowercase hex SHA-256 of the whole token string: how sessions are looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_issued(
    *,
    event_id: str,
    session_id: str,
    token: str,
    account_id: str | None,
    subject_email: str | None,
    created_at: str,
    expires_at: str | None,
    device_label: str | None = None,
    subject_issuer: str | None = None,
    client_id: str = CLIENT_ID,
) -> Event:
    """The first event of a session stream; the subject follows from the token's prefix."""
    prefix = token[: len(ACCOUNT_PREFIX)]
    return Event(
        id=event_id,
        type="session.issued",
        stream=f"session:{session_id}",
        version=1,
        workspace_id=None,
        occurred_at=created_at,
        data={
            "token_hash": token_hash(token),
            "prefix": prefix,
            "subject_type": "account" if prefix == ACCOUNT_PREFIX else "external_sso",
            "account_id": account_id,
            "subject_email": subject_email,
            "subject_issuer": subject_issuer,
            "client_id": client_id,
            "device_label": device_label,
            "created_at": created_at,
            "expires_at": expires_at,
        },
    )
