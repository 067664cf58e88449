"""Document encodings: how read-model documents are rendered to bytes and spliced.

The projector renders documents once, at write time, with these functions; the query API
splices the stored bytes into responses without decoding them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
AGENT_MODES = frozenset({"agent-chat", "advanced-chat"})
WORKFLOW_MODES = frozenset({"workflow", "advanced-chat"})

DISABLED = {"enabled": False}
# Dify's parameters mapping fills this in for a workflow whose features lack it...
DEFAULT_SENSITIVE_WORD_AVOIDANCE = {"enabled": False, "type": "", "configs": []}
# ...while a model config whose column is empty reads as this (AppModelConfig's own default).
MODEL_CONFIG_SENSITIVE_WORD_AVOIDANCE = {"enabled": False, "type": "", "config": {}}
DEFAULT_FILE_NUMBER_LIMITS = 3
DEFAULT_FILE_UPLOAD = {
    "image": {
        "enabled": False,
        "number_limits": DEFAULT_FILE_NUMBER_LIMITS,
        "detail": "high",
        "transfer_methods": ["remote_url", "local_file"],
    },
}
# What describe shows as `parameters` for an app with no published config or workflow.
UNPUBLISHED_PARAMETERS = orjson.dumps(
    {
        "opening_statement": None,
        "suggested_questions": [],
        "user_input_form": [],
        "file_upload": None,
        "system_parameters": {},
    },
)
UNPUBLISHED_INPUT_SCHEMA = {
    "$schema": JSON_SCHEMA_DIALECT,
    "type": "object",
    "properties": {},
    "required": [],
}


def dify_timestamp(moment: datetime) -> str:
    """UTC, ISO 8601 without offset, microseconds only when non-zero (as Dify writes it)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def zulu_timestamp(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with a trailing Z (session rows)."""
    if moment is None:
        return None
    return dify_timestamp(moment) + "Z"


def epoch_micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def epoch_millis(moment: datetime) -> int:
    return epoch_micros(moment) // 1000


def tag_list(tags: Iterable[str]) -> list[dict[str, str]]:
    return [{"name": tag} for tag in tags]


def parameters(
    features: Mapping[str, Any], user_input_form: Sequence[Any], *, model_config: bool
) -> dict[str, Any]:
    """The parameters object without `system_parameters` (which the API adds from settings).

    `features` holds the keys that were present and not null; absent ones take Dify's
    defaults: a model config's empty column reads as its own default (`retriever_resource`
    enabled, `sensitive_word_avoidance` with an empty `config`), a workflow's missing feature
    as the parameters mapping's.
    """
    retriever_default = {"enabled": True} if model_config else DISABLED
    sensitive_default = (
        MODEL_CONFIG_SENSITIVE_WORD_AVOIDANCE if model_config else DEFAULT_SENSITIVE_WORD_AVOIDANCE
    )
    return {
        "opening_statement": features.get("opening_statement"),
        "suggested_questions": features.get("suggested_questions", []),
        "suggested_questions_after_answer": features.get("suggested_questions_after_answer", DISABLED),
        "speech_to_text": features.get("speech_to_text", DISABLED),
        "text_to_speech": features.get("text_to_speech", DISABLED),
        "retriever_resource": features.get("retriever_resource", retriever_default),
        "annotation_reply": features.get("annotation_reply", DISABLED),
        "more_like_this": features.get("more_like_this", DISABLED),
        "user_input_form": list(user_input_form),
        "sensitive_word_avoidance": features.get("sensitive_word_avoidance", sensitive_default),
        "file_upload": features.get("file_upload", DEFAULT_FILE_UPLOAD),
    }


def wrap_start_variables(variables: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A workflow start node's variables as user_input_form entries: {<type>: variable}."""
    return [{str(variable.get("type")): dict(variable)} for variable in variables]


def workflow_features(features: Mapping[str, Any]) -> Mapping[str, Any]:
    """A workflow's features as Dify reads them: an enabled legacy `file_upload.image` is
    rewritten into the flat file-upload shape (Workflow.features does so on every read)."""
    upload = features.get("file_upload")
    image = upload.get("image") if isinstance(upload, dict) else None
    if not isinstance(image, dict) or not image.get("enabled", False):
        return features
    rewritten = copy.deepcopy(dict(features))
    upload = rewritten["file_upload"]
    image = upload["image"]
    try:
        limit = int(image.get("number_limits", DEFAULT_FILE_NUMBER_LIMITS))
    except (TypeError, ValueError):
        limit = DEFAULT_FILE_NUMBER_LIMITS
    upload["enabled"] = True
    upload["number_limits"] = limit
    upload["allowed_file_upload_methods"] = image.get("transfer_methods", ["remote_url", "local_file"])
    upload["allowed_file_types"] = upload.get("allowed_file_types", ["image"])
    upload["allowed_file_extensions"] = upload.get("allowed_file_extensions", [])
    del upload["image"]
    return rewritten


def input_schema(user_input_form: Sequence[Any], mode: str) -> dict[str, Any]:
    """JSON Schema (2020-12) of what running the app takes, key for key as Dify derives it.

    Chat-style modes take a `query` first; form entries that are not one `{type: variable}`
    pair, have no variable name or a type Dify does not know are left out.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    if mode in CHAT_MODES:
        properties["query"] = {"type": "string", "minLength": 1}
        required.append("query")
    inputs, needed = _form_schema(user_input_form)
    properties["inputs"] = {
        "type": "object",
        "properties": inputs,
        "required": needed,
        "additionalProperties": False,
    }
    required.append("inputs")
    return {"$schema": JSON_SCHEMA_DIALECT, "type": "object", "properties": properties, "required": required}


def _form_schema(user_input_form: Sequence[Any]) -> tuple[dict[str, Any], list[str]]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for entry in user_input_form:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((form_type, variable),) = entry.items()
        if not isinstance(variable, dict):
            continue
        name = variable.get("variable")
        if not name or not isinstance(name, str):
            continue
        schema = _variable_schema(str(form_type), variable)
        if schema is None:
            continue
        properties[name] = schema
        if variable.get("required"):
            required.append(name)
    return properties, required


def _variable_schema(form_type: str, variable: Mapping[str, Any]) -> dict[str, Any] | None:
    label = variable.get("label") or variable.get("variable", "")
    titled: dict[str, Any] = {"title": label} if label else {}
    if form_type in ("text-input", "paragraph"):
        schema: dict[str, Any] = {"type": "string", **titled}
        max_length = variable.get("max_length")
        if isinstance(max_length, int) and max_length > 0:
            schema["maxLength"] = max_length
        return schema
    if form_type == "select":
        options = variable.get("options")
        return {
            "type": "string",
            **titled,
            "enum": list(options) if isinstance(options, str | list | dict) else [],
        }
    if form_type == "number":
        return {"type": "number", **titled}
    if form_type == "file":
        return {**_file_value(), **titled}
    if form_type == "file-list":
        return {"type": "array", "items": _file_value(), **titled}
    return None


def _file_value() -> dict[str, Any]:
    """What one file input takes (Dify's own placeholder shape)."""
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "transfer_method": {"type": "string"},
            "url": {"type": "string"},
            "upload_file_id": {"type": "string"},
        },
        "additionalProperties": True,
    }


# An app's list row as stored after its author's id: `{"id":…,"name":…,"description":…,
# "mode":…,"tags":[…],"updated_at":…,"created_by_name":`. Its summary and info are cut from it
# (nothing else stores their bytes): every quote inside a JSON string is escaped, so the
# first `,"tags":` is the key's, and nothing after the tags holds `,"updated_at":`.
_TAGS = b',"tags":'
_UPDATED_AT = b',"updated_at":'
_AUTHOR_NAME = b',"created_by_name":'
_MODE = b',"mode":"'


def summary_from_row(row: bytes, author: bytes) -> bytes:
    """`{id, name, description, mode, author, tags}` of an app, from its row and its author's
    JSON name."""
    tags = row.index(_TAGS)
    return row[:tags] + b',"author":' + author + row[tags : row.rindex(_UPDATED_AT)] + b"}"


def info_from_row(row: bytes, author: bytes, *, api_enabled: bool) -> bytes:
    """Describe's `info` of an app, from its row, its author's JSON name and its service API
    switch: the summary's keys, then `updated_at`, `service_api_enabled` and `is_agent`."""
    tags = row.index(_TAGS)
    mode_start = row.index(_MODE) + len(_MODE)
    mode = row[mode_start : row.index(b'"', mode_start)].decode()
    return (
        row[:tags]
        + b',"author":'
        + author
        + row[tags : -len(_AUTHOR_NAME)]
        + (b',"service_api_enabled":true' if api_enabled else b',"service_api_enabled":false')
        + (b',"is_agent":true}' if mode in AGENT_MODES else b',"is_agent":false}')
    )


def with_system_parameters(stored_parameters: bytes, system_parameters: bytes) -> bytes:
    """Splice the server's system_parameters into a stored parameters object."""
    if stored_parameters.endswith(b"{}"):
        return b'{"system_parameters":' + system_parameters + b"}"
    return stored_parameters[:-1] + b',"system_parameters":' + system_parameters + b"}"
