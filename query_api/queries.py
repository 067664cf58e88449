"""Parsed requests: one frozen query record per kind of read, and the parser of each route.

A parser never refuses on its own: Dify validates a request's parameters only after its auth
pipeline has run, so a parser returns the query to read with (enough for the auth facts
when the parameters are bad) and the validation error, kept aside until the pipeline has
passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from query_api.validation import Choice, Integer, Members, RequestModel, Text
from shared.auth.chain import canonical_uuid
from shared.auth.errors import RequestError
from shared.envelope import PageRequest
from shared.readmodel.reads import INFO, INPUT_SCHEMA, PARAMETERS, SUMMARY

# Dify's page bound for every /openapi/v1 list.
MAX_PAGE_LIMIT = 200
# Dify's list filters at most this much of `name` (its service cuts the rest off).
NAME_FILTER_LENGTH = 30
APP_MODES = (
    "completion",
    "workflow",
    "chat",
    "advanced-chat",
    "agent-chat",
    "agent",
    "channel",
    "rag-pipeline",
)
DESCRIBE_BLOCKS = ("info", "parameters", "input_schema")
_BLOCK_FIELDS = {"info": INFO, "parameters": PARAMETERS, "input_schema": INPUT_SCHEMA}

APP_LIST_QUERY = RequestModel(
    (
        ("page", Integer(1, ge=1)),
        ("limit", Integer(20, ge=1, le=MAX_PAGE_LIMIT)),
        ("mode", Choice(APP_MODES)),
        ("name", Text(200)),
        ("tag", Text(100)),
    ),
    forbid_extra=False,
)
SESSION_LIST_QUERY = RequestModel(
    (("page", Integer(1, ge=1)), ("limit", Integer(100, ge=1, le=MAX_PAGE_LIMIT))), forbid_extra=True
)
MEMBER_LIST_QUERY = RequestModel(
    (("page", Integer(1, ge=1)), ("limit", Integer(20, ge=1, le=MAX_PAGE_LIMIT))), forbid_extra=True
)
DESCRIBE_QUERY = RequestModel((("fields", Members(DESCRIBE_BLOCKS)),), forbid_extra=True)


@dataclass(frozen=True, slots=True)
class AppsQuery:
    """GET /apps in one workspace ('' when the request names none that parses).

    `page` None reads only what the auth pipeline needs. `exact_app_id` is the app a
    UUID-valued `name` names (Dify then looks that app up instead of filtering).
    """

    workspace_id: str
    page: PageRequest | None = None
    mode: str = ""
    tag: str = ""
    name_needle: str = ""  # lower-cased, at most NAME_FILTER_LENGTH characters
    exact_app_id: str = ""


@dataclass(frozen=True, slots=True)
class AppQuery:
    """A per-app route: the app id ('' when it is no UUID) and the stored fields it renders."""

    app_id: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccountQuery:
    """GET /account, GET /workspaces and GET /workspaces/{id}: the caller's account."""


@dataclass(frozen=True, slots=True)
class SessionsQuery:
    """GET /account/sessions: a page (None: only the caller)."""

    page: PageRequest | None = None


@dataclass(frozen=True, slots=True)
class MembersQuery:
    """GET /workspaces/{id}/members ('' when the id is no UUID): a page (None: auth only)."""

    workspace_id: str
    page: PageRequest | None = None


Query = AppsQuery | AppQuery | AccountQuery | SessionsQuery | MembersQuery


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a request asks, and the validation error to raise once the auth pipeline passed."""

    query: Query
    problem: RequestError | None = None
    # The raw `workspace_id` query value a per-app route compares with its app's workspace.
    requested_workspace: str | None = None
    # The workspace the request names, as given (list: query; members: path).
    named_workspace: str | None = None
    blocks: tuple[str, ...] = ()
    wants_rag_pipeline: bool = False


Parser = Callable[[Mapping[str, str], Mapping[str, str]], Parsed]


def parse_apps(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    raw_workspace = params.get("workspace_id")
    workspace = canonical_uuid(raw_workspace or "") or ""
    try:
        values = APP_LIST_QUERY.validate(params)
    except RequestError as problem:
        return Parsed(AppsQuery(workspace), problem, named_workspace=raw_workspace)
    name = values["name"] or ""
    mode = values["mode"] or ""
    page = PageRequest(values["page"], values["limit"])
    query = AppsQuery(
        workspace_id=workspace,
        page=page,
        mode="" if mode == "channel" else mode,
        tag=values["tag"] or "",
        name_needle=name[:NAME_FILTER_LENGTH].lower(),
        exact_app_id=(canonical_uuid(name) or "") if name else "",
    )
    return Parsed(query, named_workspace=raw_workspace, wants_rag_pipeline=mode == "rag-pipeline")


def parse_summary(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    return _per_app(params, path, (SUMMARY,))


def parse_parameters(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    return _per_app(params, path, (PARAMETERS,))


def parse_describe(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    try:
        chosen = DESCRIBE_QUERY.validate(params)["fields"]
    except RequestError as problem:
        parsed = _per_app(params, path, ())
        return Parsed(parsed.query, problem, requested_workspace=parsed.requested_workspace)
    blocks = tuple(block for block in DESCRIBE_BLOCKS if chosen is None or block in chosen)
    parsed = _per_app(params, path, tuple(_BLOCK_FIELDS[block] for block in blocks))
    return Parsed(parsed.query, requested_workspace=parsed.requested_workspace, blocks=blocks)


def _per_app(params: Mapping[str, str], path: Mapping[str, str], fields: tuple[str, ...]) -> Parsed:
    app_id = canonical_uuid(path["app_id"]) or ""
    return Parsed(AppQuery(app_id, fields), requested_workspace=params.get("workspace_id"))


def parse_account(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    return Parsed(AccountQuery())


def parse_sessions(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    try:
        values = SESSION_LIST_QUERY.validate(params)
    except RequestError as problem:
        return Parsed(SessionsQuery(), problem)
    return Parsed(SessionsQuery(PageRequest(values["page"], values["limit"])))


def parse_members(params: Mapping[str, str], path: Mapping[str, str]) -> Parsed:
    raw_workspace = path["workspace_id"]
    workspace = canonical_uuid(raw_workspace) or ""
    try:
        values = MEMBER_LIST_QUERY.validate(params)
    except RequestError as problem:
        return Parsed(MembersQuery(workspace), problem, named_workspace=raw_workspace)
    page = PageRequest(values["page"], values["limit"])
    return Parsed(MembersQuery(workspace, page), named_workspace=raw_workspace)
