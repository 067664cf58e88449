"""Dify's tables behind the app list, declared as Dify's `api/models` declares them.

Columns, defaults and indexes follow Dify's models (uuid ids, `timestamp without time zone`
holding UTC), so the ORM loads rows as wide as Dify's and the planner has the same indexes
to choose from. Columns the list never reads are kept for that reason.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NOW = sa.text("CURRENT_TIMESTAMP(0)")
NEW_UUID = sa.text("gen_random_uuid()")


class Base(DeclarativeBase):
    """Declarative base of the reference schema."""


def _uuid(*, primary_key: bool = False, nullable: bool = False) -> Mapped[str]:
    return mapped_column(
        sa.Uuid(as_uuid=False),
        primary_key=primary_key,
        nullable=nullable,
        server_default=NEW_UUID if primary_key else None,
    )


def _created() -> Mapped[datetime]:
    return mapped_column(sa.DateTime(), nullable=False, server_default=NOW)


class Tenant(Base):
    """A workspace (`tenants`)."""

    __tablename__ = "tenants"
    __table_args__ = (sa.PrimaryKeyConstraint("id", name="tenant_pkey"),)

    id: Mapped[str] = _uuid(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    encrypt_public_key: Mapped[str | None] = mapped_column(sa.Text)
    plan: Mapped[str] = mapped_column(sa.String(255), nullable=False, server_default="basic")
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, server_default="normal")
    custom_config: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Account(Base):
    """A person (`accounts`)."""

    __tablename__ = "accounts"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="account_pkey"),
        sa.Index("account_email_idx", "email"),
    )

    id: Mapped[str] = _uuid(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    email: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    password: Mapped[str | None] = mapped_column(sa.String(255))
    password_salt: Mapped[str | None] = mapped_column(sa.String(255))
    avatar: Mapped[str | None] = mapped_column(sa.String(255))
    interface_language: Mapped[str | None] = mapped_column(sa.String(255))
    interface_theme: Mapped[str | None] = mapped_column(sa.String(255))
    timezone: Mapped[str | None] = mapped_column(sa.String(255))
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    last_login_ip: Mapped[str | None] = mapped_column(sa.String(255))
    last_active_at: Mapped[datetime] = _created()
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="active")
    initialized_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class TenantAccountJoin(Base):
    """A membership (`tenant_account_joins`)."""

    __tablename__ = "tenant_account_joins"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="tenant_account_join_pkey"),
        sa.Index("tenant_account_join_account_id_idx", "account_id"),
        sa.Index("tenant_account_join_tenant_id_idx", "tenant_id"),
        sa.UniqueConstraint("tenant_id", "account_id", name="unique_tenant_account_join"),
    )

    id: Mapped[str] = _uuid(primary_key=True)
    tenant_id: Mapped[str] = _uuid()
    account_id: Mapped[str] = _uuid()
    current: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="normal")
    invited_by: Mapped[str | None] = _uuid(nullable=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class App(Base):
    """An app (`apps`)."""

    __tablename__ = "apps"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="app_pkey"),
        sa.Index("app_tenant_id_idx", "tenant_id"),
    )

    id: Mapped[str] = _uuid(primary_key=True)
    tenant_id: Mapped[str] = _uuid()
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    mode: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    icon_type: Mapped[str | None] = mapped_column(sa.String(255))
    icon: Mapped[str | None] = mapped_column(sa.String(255))
    icon_background: Mapped[str | None] = mapped_column(sa.String(255))
    app_model_config_id: Mapped[str | None] = _uuid(nullable=True)
    workflow_id: Mapped[str | None] = _uuid(nullable=True)
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, server_default="normal")
    enable_site: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.true())
    enable_api: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.true())
    api_rpm: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0")
    api_rph: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0")
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    is_public: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    is_universal: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    tracing: Mapped[str | None] = mapped_column(sa.Text)
    max_active_requests: Mapped[int | None] = mapped_column(sa.Integer)
    created_by: Mapped[str | None] = _uuid(nullable=True)
    created_at: Mapped[datetime] = _created()
    updated_by: Mapped[str | None] = _uuid(nullable=True)
    updated_at: Mapped[datetime] = _created()
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, server_default=sa.false()
    )


class Tag(Base):
    """A tag name of one workspace and target type (`tags`)."""

    __tablename__ = "tags"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="tag_pkey"),
        sa.Index("tag_type_idx", "type"),
        sa.Index("tag_name_idx", "name"),
    )

    id: Mapped[str] = _uuid(primary_key=True)
    tenant_id: Mapped[str | None] = _uuid(nullable=True)
    type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    created_by: Mapped[str] = _uuid()
    created_at: Mapped[datetime] = _created()


class TagBinding(Base):
    """A tag put on one target, here an app (`tag_bindings`)."""

    __tablename__ = "tag_bindings"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="tag_binding_pkey"),
        sa.Index("tag_bind_target_id_idx", "target_id"),
        sa.Index("tag_bind_tag_id_idx", "tag_id"),
    )

    id: Mapped[str] = _uuid(primary_key=True)
    tenant_id: Mapped[str | None] = _uuid(nullable=True)
    tag_id: Mapped[str | None] = _uuid(nullable=True)
    target_id: Mapped[str | None] = _uuid(nullable=True)
    created_by: Mapped[str] = _uuid()
    created_at: Mapped[datetime] = _created()


class OAuthAccessToken(Base):
    """One bearer token of a CLI login, stored by SHA-256 (`oauth_access_tokens`)."""

    __tablename__ = "oauth_access_tokens"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="oauth_access_token_pkey"),
        sa.Index("oauth_access_token_hash_idx", "token_hash", unique=True),
        sa.Index("oauth_access_token_account_id_idx", "account_id"),
    )

    id: Mapped[str] = _uuid(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    subject_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    account_id: Mapped[str | None] = _uuid(nullable=True)
    subject_email: Mapped[str | None] = mapped_column(sa.String(255))
    subject_issuer: Mapped[str | None] = mapped_column(sa.String(255))
    client_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    device_label: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
