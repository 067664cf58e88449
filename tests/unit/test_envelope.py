"""The pagination envelope and page/limit parsing."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth.errors import InvalidParam
from shared.envelope import MAX_LIMIT, PageRequest, PaginationEnvelope, parse_page_request, render_spliced


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


def test_defaults_apply_when_absent() -> None:
    assert parse_page_request(None, None, default_limit=20) == PageRequest(page=1, limit=20)
    assert parse_page_request(None, None, default_limit=100) == PageRequest(page=1, limit=100)


@pytest.mark.parametrize(("page", "limit", "named"), [("", None, "page"), (None, "", "limit")])
def test_an_empty_page_or_limit_is_an_invalid_param(page: str | None, limit: str | None, named: str) -> None:
    with pytest.raises(InvalidParam) as refused:
        parse_page_request(page, limit, default_limit=20)
    assert refused.value.params == named


def test_limits_above_the_maximum_are_clamped() -> None:
    assert parse_page_request("1", "500", default_limit=20).limit == MAX_LIMIT == 200
    assert parse_page_request("1", "200", default_limit=20).limit == 200
    assert parse_page_request("1", "9" * 40, default_limit=20).limit == 200


def test_offset_counts_whole_pages() -> None:
    assert parse_page_request("3", "7", default_limit=20).offset == 14


@pytest.mark.parametrize(
    ("page", "limit", "param"),
    [
        ("0", None, "page"),
        ("-1", None, "page"),
        ("abc", None, "page"),
        ("1.5", None, "page"),
        ("1e3", None, "page"),
        ("٣", None, "page"),  # an Arabic-Indic digit: int() would take it
        ("1_0", None, "page"),
        ("9" * 30, None, "page"),
        (None, "0", "limit"),
        (None, "-5", "limit"),
        (None, "ten", "limit"),
        (None, "0x10", "limit"),
    ],
)
def test_bad_values_name_their_parameter(page: str | None, limit: str | None, param: str) -> None:
    with pytest.raises(InvalidParam) as excinfo:
        parse_page_request(page, limit, default_limit=20)
    error = excinfo.value
    assert (error.status, error.code, error.params) == (400, "invalid_param", param)
    assert error.body()["params"] == param


def test_page_is_checked_before_limit() -> None:
    with pytest.raises(InvalidParam) as excinfo:
        parse_page_request("x", "y", default_limit=20)
    assert excinfo.value.params == "page"


def test_leading_zeros_and_padding_are_plain_numbers() -> None:
    assert parse_page_request("007", " 3 ", default_limit=20) == PageRequest(page=7, limit=3)
