"""Turning Dify's stored values into contract values: timestamps, JSON text, feature objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from shared.events.payloads import MODEL_CONFIG_KEYS


def utc_timestamp(value: object) -> str | None:
    """An RFC 3339 text with `+00:00` from a Dify timestamp (naive values are UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        # Dify writes `timestamp without time zone` columns in UTC.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def json_text(value: object) -> Any:
    """Decode a JSON-in-TEXT column; None for NULL, empty or undecodable text."""
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def feature_value_fits(key: str, value: object) -> bool:
    """Whether `value` has the type the contract expects for model-config key `key`."""
    if value is None:
        return True
    if key == "opening_statement":
        return isinstance(value, str)
    if key in ("suggested_questions", "user_input_form"):
        return isinstance(value, list)
    return isinstance(value, dict)


def clean_features(features: dict[str, Any]) -> dict[str, Any]:
    """The object with any model-config key of the wrong type set to null (its default)."""
    cleaned = dict(features)
    for key in MODEL_CONFIG_KEYS:
        if key in cleaned and not feature_value_fits(key, cleaned[key]):
            cleaned[key] = None
    return cleaned


def start_variables(graph: object) -> list[dict[str, Any]]:
    """The variables of a workflow graph's start node (`data.type == "start"`)."""
    decoded = json_text(graph)
    if not isinstance(decoded, dict):
        return []
    nodes = decoded.get("nodes")
    if not isinstance(nodes, list):
        return []
    for node in nodes:
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict) and data.get("type") == "start":
            variables = data.get("variables")
            if not isinstance(variables, list):
                return []
            return [
                variable
                for variable in variables
                if isinstance(variable, dict)
                and isinstance(variable.get("variable"), str)
                and isinstance(variable.get("type"), str)
            ]
    return []
