"""Dify value conversions: timestamps, JSON text, start variables, feature objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from projector.capture.rows import annotation_reply, session_issued
from projector.capture.values import clean_features, json_text, start_variables, utc_timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-04-27T10:00:00", "2026-04-27T10:00:00+00:00"),
        ("2026-04-27T10:00:00.5", "2026-04-27T10:00:00.500000+00:00"),
        ("2026-04-27T12:00:00+02:00", "2026-04-27T10:00:00+00:00"),
        (datetime(2026, 4, 27, 10, 0), "2026-04-27T10:00:00+00:00"),
        (datetime(2026, 4, 27, 7, 0, tzinfo=timezone(timedelta(hours=-3))), "2026-04-27T10:00:00+00:00"),
        (None, None),
        ("yesterday", None),
    ],
)
def test_utc_timestamp(value: object, expected: str | None) -> None:
    assert utc_timestamp(value) == expected


def test_utc_timestamp_output_parses_back() -> None:
    text = utc_timestamp("2026-04-27T10:00:00.123456")
    assert text is not None
    assert datetime.fromisoformat(text) == datetime(2026, 4, 27, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"enabled": true}', {"enabled": True}),
        ("[1]", [1]),
        ("", None),
        ("  ", None),
        ("{", None),
        (None, None),
    ],
)
def test_json_text(value: str | None, expected: object) -> None:
    assert json_text(value) == expected


def test_clean_features_nulls_wrong_types_and_keeps_unknown_keys() -> None:
    cleaned = clean_features(
        {"opening_statement": 3, "suggested_questions": "nope", "file_upload": {"enabled": True}, "extra": 1},
    )
    assert cleaned == {
        "opening_statement": None,
        "suggested_questions": None,
        "file_upload": {"enabled": True},
        "extra": 1,
    }


def test_start_variables_from_graph_text() -> None:
    graph = '{"nodes": [{"data": {"type": "start", "variables": [{"variable": "q", "type": "paragraph"}]}}]}'
    assert start_variables(graph) == [{"variable": "q", "type": "paragraph"}]
    assert start_variables('{"nodes": [{"data": {"type": "llm"}}]}') == []
    assert start_variables("not json") == []


def test_annotation_reply_shapes() -> None:
    assert annotation_reply(None) == {"enabled": False}
    reply = annotation_reply({"id": "s", "score_threshold": 0.5, "provider_name": "p", "model_name": "m"})
    assert reply["embedding_model"] == {"embedding_provider_name": "p", "embedding_model_name": "m"}


def test_session_with_an_unknown_prefix_is_not_a_session() -> None:
    row = {"id": "t", "prefix": "app-", "token_hash": "ab" * 32, "created_at": "2026-04-27T10:00:00"}
    assert session_issued(row) is None
