"""Event data built from Dify rows (as JSON objects); shared by the change feed and the snapshot."""

from __future__ import annotations

from typing import Any

from projector.capture.values import clean_features, json_text, start_variables, utc_timestamp

# Which apps publish what, per the contract.
CONFIG_MODES = frozenset({"chat", "agent-chat", "completion"})

APP_UPDATE_KEYS = ("name", "description", "status", "enable_api", "is_universal", "updated_at")
ACCOUNT_KEYS = ("name", "email", "status", "avatar")
JSON_CONFIG_COLUMNS = (
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "more_like_this",
    "sensitive_word_avoidance",
    "user_input_form",
    "file_upload",
)
SESSION_PREFIXES = {"dfoa_": "account", "dfoe_": "external_sso"}


def workspace_created(tenant: dict[str, Any]) -> dict[str, Any]:
    data = {"name": tenant.get("name"), "status": tenant.get("status") or "normal"}
    created_at = utc_timestamp(tenant.get("created_at"))
    if created_at is not None:  # a change row from before `created_at` was watched has none
        data["created_at"] = created_at
    return data


def account_created(account: dict[str, Any]) -> dict[str, Any]:
    return {key: account.get(key) for key in ACCOUNT_KEYS}


def member_joined(join: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": join.get("account_id"),
        "role": join.get("role"),
        "current": bool(join.get("current")),
    }


def app_created(app: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    return {
        "name": app.get("name"),
        "description": app.get("description") or "",
        "mode": app.get("mode"),
        "status": app.get("status"),
        "enable_api": app.get("enable_api"),
        "is_universal": bool(app.get("is_universal")),
        "created_by": app.get("created_by"),
        "created_at": utc_timestamp(app.get("created_at")),
        "updated_at": utc_timestamp(app.get("updated_at")),
        "tags": tags,
    }


def app_value(key: str, value: object) -> object:
    """One `app.updated` value in contract form."""
    if key == "updated_at":
        return utc_timestamp(value)
    if key == "description":
        return value or ""
    return value


def model_config_published(config: dict[str, Any], annotation_reply: dict[str, Any]) -> dict[str, Any]:
    """The published model config: JSON columns decoded, annotation_reply from its tables."""
    data: dict[str, Any] = {"opening_statement": config.get("opening_statement")}
    for column in JSON_CONFIG_COLUMNS:
        data[column] = json_text(config.get(column))
    data["annotation_reply"] = annotation_reply
    return clean_features(data)


def annotation_reply(setting: dict[str, Any] | None) -> dict[str, Any]:
    """Dify's rendering of an app's annotation setting (enabled exactly when a row exists)."""
    if setting is None:
        return {"enabled": False}
    reply: dict[str, Any] = {
        "id": setting.get("id"),
        "enabled": True,
        "score_threshold": setting.get("score_threshold"),
    }
    if setting.get("provider_name") is not None or setting.get("model_name") is not None:
        reply["embedding_model"] = {
            "embedding_provider_name": setting.get("provider_name"),
            "embedding_model_name": setting.get("model_name"),
        }
    return reply


def workflow_published(workflow: dict[str, Any]) -> dict[str, Any]:
    features = json_text(workflow.get("features"))
    return {
        "workflow_id": workflow.get("id"),
        "features": clean_features(features) if isinstance(features, dict) else {},
        "start_variables": start_variables(workflow.get("graph")),
    }


def session_issued(token: dict[str, Any]) -> dict[str, Any] | None:
    """`session.issued` data, or None for a row that cannot be a live session.

    Only the hash ever leaves Dify; a row without one (hard-expired) or with a prefix the
    contract does not know is not a session the read model can serve.
    """
    token_hash = token.get("token_hash")
    prefix = _session_prefix(token.get("prefix"))
    if not isinstance(token_hash, str) or prefix is None:
        return None
    subject_type = SESSION_PREFIXES[prefix]
    return {
        "token_hash": token_hash.lower(),
        "prefix": prefix,
        "subject_type": subject_type,
        "account_id": token.get("account_id") if subject_type == "account" else None,
        "subject_email": token.get("subject_email"),
        "subject_issuer": token.get("subject_issuer"),
        "client_id": token.get("client_id"),
        "device_label": token.get("device_label"),
        "created_at": utc_timestamp(token.get("created_at")),
        "expires_at": utc_timestamp(token.get("expires_at")),
    }


def _session_prefix(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    for prefix in SESSION_PREFIXES:
        if value.startswith(prefix):
            return prefix
    return None
