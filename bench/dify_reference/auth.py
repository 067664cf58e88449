"""The auth chain's look-ups answered from Dify's tables through the ORM, one query each."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.dify_reference.models import Account, OAuthAccessToken, Tenant, TenantAccountJoin
from shared.auth import TokenRecord, WorkspaceFacts


class OrmAuthLookup:
    """`AuthLookup` over PostgreSQL: token by hash, then its account, the workspace and the membership."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def token(self, token_hash: str) -> TokenRecord | None:
        """The token row and, for an account subject, the account's status."""
        row = self._session.scalars(
            select(OAuthAccessToken).where(OAuthAccessToken.token_hash == token_hash).limit(1)
        ).first()
        if row is None:
            return None
        account_status = None
        if row.account_id is not None:
            # Dify loads the whole account here: it becomes the request's current user.
            account = self._session.get(Account, row.account_id)
            account_status = None if account is None else account.status
        return TokenRecord(
            session_id=row.id,
            subject_type=row.subject_type,
            account_id=row.account_id,
            subject_email=row.subject_email,
            subject_issuer=row.subject_issuer,
            expires_at_ms=None if row.expires_at is None else _epoch_ms(row.expires_at),
            revoked=row.revoked_at is not None,
            account_status=account_status,
        )

    def workspace(self, account_id: str, workspace_id: str) -> WorkspaceFacts:
        """The named workspace's status (Dify loads the tenant first) and the caller's role there."""
        tenant = self._session.get(Tenant, workspace_id)
        if tenant is None:
            return WorkspaceFacts(None, None)
        join = self._session.scalars(
            select(TenantAccountJoin)
            .where(TenantAccountJoin.tenant_id == workspace_id, TenantAccountJoin.account_id == account_id)
            .limit(1)
        ).first()
        return WorkspaceFacts(tenant.status, None if join is None else join.role)


def _epoch_ms(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp() * 1000)
