"""The pagination envelope and the page request."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.envelope import PageRequest, PaginationEnvelope, render_spliced


@pytest.mark.parametrize(
    ("page", "limit", "total", "has_more"),
    [
        (1, 20, 0, False),
        (1, 20, 20, False),
        (1, 20, 21, True),
        (2, 20, 41, True),
        (3, 20, 41, False),
        (9, 20, 41, False),
    ],
)
def test_has_more_is_page_times_limit_below_total(page: int, limit: int, total: int, has_more: bool) -> None:
    assert PaginationEnvelope(page=page, limit=limit, total=total, data=[]).has_more is has_more


def test_spliced_rows_are_copied_byte_for_byte() -> None:
    rows = (b'{"id":"a","name":"Caf\xc3\xa9"}', b'{"id":"b"}')
    body = render_spliced(PaginationEnvelope(page=2, limit=2, total=5, data=rows))
    assert body == (
        b'{"page":2,"limit":2,"total":5,"has_more":true,"data":[{"id":"a","name":"Caf\xc3\xa9"},{"id":"b"}]}'
    )
    assert orjson.loads(body)["data"][0]["name"] == "Café"


def test_an_empty_page_renders_an_empty_list() -> None:
    body = render_spliced(PaginationEnvelope(page=4, limit=20, total=3, data=()))
    assert orjson.loads(body) == {"page": 4, "limit": 20, "total": 3, "has_more": False, "data": []}


def test_the_envelope_has_exactly_its_five_keys() -> None:
    body = PaginationEnvelope(page=1, limit=1, total=1, data=[{"x": 1}]).render()
    assert list(orjson.loads(body)) == ["page", "limit", "total", "has_more", "data"]


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(-(2**60), 2**60), max_size=3), max_size=6))
def test_rendering_items_equals_encoding_the_whole(items: list[dict[str, int]]) -> None:
    envelope = PaginationEnvelope(page=1, limit=3, total=len(items), data=items)
    expected = {"page": 1, "limit": 3, "total": len(items), "has_more": len(items) > 3, "data": items}
    assert orjson.loads(envelope.render()) == expected


def test_offset_counts_whole_pages() -> None:
    assert PageRequest(page=3, limit=7).offset == 14
