"""Parsed query parameters: one frozen record per kind of read, and the parsers that build them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.auth.errors import BadRequest, InvalidParam
from shared.envelope import PageRequest, parse_page_request
from shared.readmodel.reads import INFO, INPUT_SCHEMA, PARAMETERS, SUMMARY

APPS_DEFAULT_LIMIT = 20
SESSIONS_DEFAULT_LIMIT = 100
MAX_NAME_LENGTH = 200
DESCRIBE_BLOCKS = ("info", "parameters", "input_schema")
_BLOCK_FIELDS = {"info": INFO, "parameters": PARAMETERS, "input_schema": INPUT_SCHEMA}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class AppsQuery:
    """GET /apps: a workspace, a page and the optional filters ('' = no filter)."""

    workspace_id: str
    page: PageRequest
    mode: str = ""
    tag: str = ""
    name_needle: str = ""  # the casefolded `name`


@dataclass(frozen=True, slots=True)
class AppQuery:
    """A per-app route: the app id ('' when it is no UUID) and the stored fields it renders."""

    app_id: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccountQuery:
    """GET /account and GET /workspaces take no parameters."""


@dataclass(frozen=True, slots=True)
class SessionsQuery:
    """GET /account/sessions: a page."""

    page: PageRequest


Query = AppsQuery | AppQuery | AccountQuery | SessionsQuery


def parse_apps_query(params: Mapping[str, str]) -> AppsQuery:
    """Check the list's parameters; the first problem found is raised."""
    workspace_id = params.get("workspace_id", "")
    if workspace_id == "":
        raise BadRequest("workspace_id query param is required")
    if not is_uuid(workspace_id):
        raise InvalidParam("workspace_id", "workspace_id must be a UUID")
    page = parse_page_request(params.get("page"), params.get("limit"), default_limit=APPS_DEFAULT_LIMIT)
    name = params.get("name", "")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParam("name", f"name must be at most {MAX_NAME_LENGTH} characters")
    return AppsQuery(
        workspace_id=workspace_id.lower(),
        page=page,
        mode=params.get("mode", ""),
        tag=params.get("tag", ""),
        name_needle=name.casefold(),
    )


def app_query(app_id: str, *fields: str) -> AppQuery:
    """A per-app read of `fields`; an id that is no UUID can only be unknown."""
    return AppQuery(app_id=app_id.lower() if is_uuid(app_id) else "", fields=fields)


def summary_query(app_id: str) -> AppQuery:
    return app_query(app_id, SUMMARY)


def parameters_query(app_id: str) -> AppQuery:
    return app_query(app_id, PARAMETERS)


def describe_blocks(raw: str | None) -> tuple[str, ...]:
    """The describe blocks `fields` asks for, in the body's order; none named means all."""
    if not raw:
        return DESCRIBE_BLOCKS
    asked = {part.strip() for part in raw.split(",")} - {""}
    unknown = sorted(asked.difference(DESCRIBE_BLOCKS))
    if unknown:
        raise InvalidParam(
            "fields",
            f"unknown field {unknown[0]!r}; expected a subset of {', '.join(DESCRIBE_BLOCKS)}",
        )
    return tuple(block for block in DESCRIBE_BLOCKS if block in asked) or DESCRIBE_BLOCKS


def describe_query(app_id: str, blocks: tuple[str, ...]) -> AppQuery:
    return app_query(app_id, *(_BLOCK_FIELDS[block] for block in blocks))


def parse_sessions_query(params: Mapping[str, str]) -> SessionsQuery:
    return SessionsQuery(
        page=parse_page_request(
            params.get("page"), params.get("limit"), default_limit=SESSIONS_DEFAULT_LIMIT
        ),
    )


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None
