"""Document encodings: how read-model documents are rendered to bytes and spliced.

The projector renders documents once, at write time, with these functions; the query API
splices the stored bytes into responses without decoding them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
AGENT_MODES = frozenset({"agent-chat", "advanced-chat"})
WORKFLOW_MODES = frozenset({"workflow", "advanced-chat"})

DISABLED = {"enabled": False}
DEFAULT_SENSITIVE_WORD_AVOIDANCE = {"enabled": False, "type": "", "configs": []}
DEFAULT_FILE_UPLOAD = {
    "image": {
        "enabled": False,
        "number_limits": 3,
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

    `features` holds the keys that were present and not null; absent ones take the
    contract's defaults. A model config without `retriever_resource` gets it enabled, as
    Dify's column default does.
    """
    retriever_default = {"enabled": True} if model_config else DISABLED
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
        "sensitive_word_avoidance": features.get(
            "sensitive_word_avoidance", DEFAULT_SENSITIVE_WORD_AVOIDANCE
        ),
        "file_upload": features.get("file_upload", DEFAULT_FILE_UPLOAD),
    }


def wrap_start_variables(variables: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A workflow start node's variables as user_input_form entries: {<type>: variable}."""
    return [{str(variable.get("type")): dict(variable)} for variable in variables]


def input_schema(user_input_form: Sequence[Any], mode: str) -> dict[str, Any]:
    """JSON Schema (2020-12) of what running the app takes."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for entry in user_input_form:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((form_type, variable),) = entry.items()
        if not isinstance(variable, dict) or not isinstance(variable.get("variable"), str):
            continue
        name = variable["variable"]
        properties[name] = _variable_schema(str(form_type), variable)
        if variable.get("required") is True:
            required.append(name)
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "type": "object",
        "properties": {
            "inputs": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
        "required": ["inputs"],
    }
    if mode in CHAT_MODES:
        schema["properties"]["query"] = {"type": "string", "minLength": 1}
        schema["required"].append("query")
    return schema


def _variable_schema(form_type: str, variable: Mapping[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any]
    if form_type in ("text-input", "paragraph"):
        schema = {"type": "string"}
        max_length = variable.get("max_length")
        if isinstance(max_length, int) and not isinstance(max_length, bool) and max_length > 0:
            schema["maxLength"] = max_length
    elif form_type == "select":
        options = variable.get("options")
        schema = {"type": "string"}
        if isinstance(options, list):
            schema["enum"] = [option for option in options if isinstance(option, str)]
    elif form_type == "number":
        schema = {"type": "number"}
    elif form_type == "file":
        schema = {"type": "object"}
    elif form_type == "file-list":
        schema = {"type": "array", "items": {"type": "object"}}
    else:
        schema = {}
    label = variable.get("label")
    if isinstance(label, str) and label:
        schema["title"] = label
    return schema


def with_system_parameters(stored_parameters: bytes, system_parameters: bytes) -> bytes:
    """Splice the server's system_parameters into a stored parameters object."""
    if stored_parameters.endswith(b"{}"):
        return b'{"system_parameters":' + system_parameters + b"}"
    return stored_parameters[:-1] + b',"system_parameters":' + system_parameters + b"}"
