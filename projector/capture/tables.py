"""The Dify tables the capture watches, and the columns of each that the read model needs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import ConfigurationError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class WatchedTable:
    """One Dify table: the columns copied into a change row, and an optional row filter."""

    name: str
    columns: tuple[str, ...]
    # A SQL condition on the row (written with `{row}` for NEW or OLD); rows that fail it on
    # both sides of a change are not recorded at all.
    only_rows: str | None = None


WATCHED_TABLES: tuple[WatchedTable, ...] = (
    WatchedTable("tenants", ("id", "name", "status", "created_at")),
    WatchedTable("accounts", ("id", "name", "email", "status", "avatar")),
    WatchedTable("tenant_account_joins", ("id", "tenant_id", "account_id", "role", "current")),
    WatchedTable(
        "apps",
        (
            "id",
            "tenant_id",
            "name",
            "description",
            "mode",
            "status",
            "enable_api",
            "is_universal",
            "app_model_config_id",
            "workflow_id",
            "created_by",
            "created_at",
            "updated_at",
        ),
    ),
    WatchedTable(
        "app_model_configs",
        (
            "id",
            "app_id",
            "opening_statement",
            "suggested_questions",
            "suggested_questions_after_answer",
            "speech_to_text",
            "text_to_speech",
            "retriever_resource",
            "more_like_this",
            "sensitive_word_avoidance",
            "user_input_form",
            "file_upload",
        ),
    ),
    WatchedTable("app_annotation_settings", ("id", "app_id", "score_threshold", "collection_binding_id")),
    WatchedTable("dataset_collection_bindings", ("id", "provider_name", "model_name")),
    # The editor saves the draft every few seconds with the whole graph: filtering drafts out
    # in the trigger keeps that traffic from ever reaching the change table.
    WatchedTable(
        "workflows",
        ("id", "app_id", "tenant_id", "type", "version", "graph", "features"),
        only_rows="{row}.version <> 'draft'",
    ),
    WatchedTable("tags", ("id", "tenant_id", "type", "name")),
    WatchedTable("tag_bindings", ("id", "tenant_id", "tag_id", "target_id")),
    WatchedTable(
        "oauth_access_tokens",
        (
            "id",
            "subject_email",
            "subject_issuer",
            "account_id",
            "client_id",
            "device_label",
            "prefix",
            "token_hash",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ),
    ),
)

TABLES_BY_NAME = {table.name: table for table in WATCHED_TABLES}


def json_row(alias: str, columns: tuple[str, ...]) -> str:
    """A `jsonb_build_object(...)` expression giving the row the same shape a change row has."""
    pairs = ", ".join(f"'{column}', {alias}.{column}" for column in columns)
    return f"jsonb_build_object({pairs})"


def schema_name(schema: str) -> str:
    """`schema`, checked to be a plain identifier.

    Identifiers cannot be bound parameters, so the capture's SQL writes the schema into the
    text; accepting only plain identifiers is what makes that safe (hence the S608 waivers).
    """
    if not _IDENTIFIER.match(schema):
        raise ConfigurationError(f"--schema: {schema!r} is not a plain SQL identifier")
    return schema
