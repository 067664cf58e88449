"""An app's summary and info cut from its stored row: the same bytes as rendering them."""

from __future__ import annotations

import orjson
import pytest

from shared.readmodel.documents import AGENT_MODES, info_from_row, summary_from_row

APP = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
# Text a name or description could hold that looks like the keys the cut looks for.
TRICKY = [
    "Plain",
    '","tags":[{"name":"x"}],"updated_at":"2020-01-01T00:00:00","created_by_name":',
    ',"mode":"agent-chat"',
    'quote " backslash \\ newline \n tab \t',
    "Übersicht 客服 😀",
    "",
]


def row(name: str, description: str, mode: str, tags: list[str]) -> bytes:
    """A row as derive._render_documents stores it, after the author's id."""
    rendered = orjson.dumps(
        {
            "id": APP,
            "name": name,
            "description": description,
            "mode": mode,
            "tags": [{"name": tag} for tag in tags],
            "updated_at": "2025-06-02T11:26:14.000001",
        },
    )
    return rendered[:-1] + b',"created_by_name":'


@pytest.mark.parametrize("name", TRICKY)
@pytest.mark.parametrize("mode", ["chat", "agent-chat", "advanced-chat", "workflow"])
@pytest.mark.parametrize("author", [None, 'Ada "the" Lovelace'])
def test_the_summary_and_info_cut_from_a_row_are_the_rendered_ones(
    name: str, mode: str, author: str | None
) -> None:
    tags = ["sales", name] if name else []
    stored = row(name, name[::-1], mode, tags)
    author_json = orjson.dumps(author)
    shown = {"id": APP, "name": name, "description": name[::-1], "mode": mode, "author": author}
    tagged = [{"name": tag} for tag in tags]
    assert summary_from_row(stored, author_json) == orjson.dumps(shown | {"tags": tagged})
    for enabled in (True, False):
        info = shown | {
            "tags": tagged,
            "updated_at": "2025-06-02T11:26:14.000001",
            "service_api_enabled": enabled,
            "is_agent": mode in AGENT_MODES,
        }
        assert info_from_row(stored, author_json, api_enabled=enabled) == orjson.dumps(info)
