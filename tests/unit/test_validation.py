"""Query parameters checked as Dify's request models (pydantic) check them, 422 for 422."""

from __future__ import annotations

from typing import Any

import pytest

from query_api.queries import APP_LIST_QUERY, DESCRIBE_QUERY, SESSION_LIST_QUERY
from query_api.validation import first_values
from shared.auth.errors import RequestError

INT_PARSING = {
    "type": "int_parsing",
    "msg": "Input should be a valid integer, unable to parse string as an integer",
}


def details(model: Any, params: dict[str, str]) -> list[dict[str, Any]]:
    with pytest.raises(RequestError) as excinfo:
        model.validate(params)
    error = excinfo.value
    assert (error.status, error.code, error.message) == (422, "invalid_param", "Request validation failed")
    body = error.body()
    assert list(body) == ["code", "message", "status", "details"]
    return body["details"]


def test_defaults_apply_when_absent() -> None:
    assert SESSION_LIST_QUERY.validate({}) == {"page": 1, "limit": 100}
    values = APP_LIST_QUERY.validate({})
    assert values == {"page": 1, "limit": 20, "mode": None, "name": None, "tag": None}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        (" 2 ", 2),
        ("\t3\n", 3),
        ("007", 7),
        ("+4", 4),
        ("1_0", 10),
        ("2.0", 2),
        ("0001.000", 1),
        ("\xa05", 5),
    ],
)
def test_integers_parse_as_pydantic_parses_them(text: str, value: int) -> None:
    assert SESSION_LIST_QUERY.validate({"page": text})["page"] == value


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "1.5", "1.", ".0", "1e3", "0x10", "1__0", "_1", "٣", "1 0", "+", "inf"]
)
def test_what_is_no_integer_is_int_parsing(text: str) -> None:
    assert details(SESSION_LIST_QUERY, {"page": text}) == [{**INT_PARSING, "loc": ["page"]}]


def test_a_huge_page_is_fine() -> None:
    assert SESSION_LIST_QUERY.validate({"page": "9" * 40})["page"] == int("9" * 40)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"page": "0"},
            [
                {
                    "type": "greater_than_equal",
                    "loc": ["page"],
                    "msg": "Input should be greater than or equal to 1",
                }
            ],
        ),
        (
            {"page": "-0"},
            [
                {
                    "type": "greater_than_equal",
                    "loc": ["page"],
                    "msg": "Input should be greater than or equal to 1",
                }
            ],
        ),
        (
            {"limit": "201"},
            [
                {
                    "type": "less_than_equal",
                    "loc": ["limit"],
                    "msg": "Input should be less than or equal to 200",
                }
            ],
        ),
        (
            {"limit": "0"},
            [
                {
                    "type": "greater_than_equal",
                    "loc": ["limit"],
                    "msg": "Input should be greater than or equal to 1",
                }
            ],
        ),
    ],
)
def test_bounds(params: dict[str, str], expected: list[dict[str, Any]]) -> None:
    assert details(SESSION_LIST_QUERY, params) == expected


def test_every_problem_is_listed_fields_first_then_unknown_parameters_in_request_order() -> None:
    found = details(SESSION_LIST_QUERY, {"zz": "1", "page": "x", "limit": "0", "aa": "2"})
    assert [(d["type"], d["loc"]) for d in found] == [
        ("int_parsing", ["page"]),
        ("greater_than_equal", ["limit"]),
        ("extra_forbidden", ["zz"]),
        ("extra_forbidden", ["aa"]),
    ]
    assert found[-1]["msg"] == "Extra inputs are not permitted"


def test_the_list_ignores_unknown_parameters_but_checks_mode_name_and_tag() -> None:
    assert APP_LIST_QUERY.validate({"unknown": "1", "workspace_id": "x"})["page"] == 1
    found = details(APP_LIST_QUERY, {"mode": "", "name": "n" * 201, "tag": "t" * 101})
    assert found == [
        {
            "type": "enum",
            "loc": ["mode"],
            "msg": "Input should be 'completion', 'workflow', 'chat', 'advanced-chat', 'agent-chat', "
            "'agent', 'channel' or 'rag-pipeline'",
        },
        {"type": "string_too_long", "loc": ["name"], "msg": "String should have at most 200 characters"},
        {"type": "string_too_long", "loc": ["tag"], "msg": "String should have at most 100 characters"},
    ]
    assert APP_LIST_QUERY.validate({"name": "n" * 200, "tag": "t" * 100})["tag"] == "t" * 100


@pytest.mark.parametrize(
    ("fields", "chosen"),
    [
        ("info", {"info"}),
        ("info,,info", {"info"}),
        (" info , parameters ", {"info", "parameters"}),
        ("", None),
        (",", frozenset()),
    ],
)
def test_describe_fields(fields: str, chosen: set[str] | None) -> None:
    value = DESCRIBE_QUERY.validate({"fields": fields})["fields"]
    assert value == (None if chosen is None else frozenset(chosen))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("bogus", "Value error, unknown field(s): ['bogus']"),
        ("info,zeta,alpha", "Value error, unknown field(s): ['alpha', 'zeta']"),
        ("INFO", "Value error, unknown field(s): ['INFO']"),
    ],
)
def test_describe_refuses_unknown_fields(fields: str, message: str) -> None:
    assert details(DESCRIBE_QUERY, {"fields": fields}) == [
        {"type": "value_error", "loc": ["fields"], "msg": message}
    ]


def test_a_repeated_parameter_counts_with_its_first_value() -> None:
    assert first_values({"a": ["1", "2"], "b": "3"}) == {"a": "1", "b": "3"}
