"""The route table: every route, its resource, its parameter parser and Dify's guard for it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from query_api.queries import (
    Parser,
    parse_account,
    parse_apps,
    parse_describe,
    parse_members,
    parse_parameters,
    parse_sessions,
    parse_summary,
)
from shared.auth.scopes import APPS_READ, FULL, WORKSPACE_READ

BASE = "/openapi/v1"


class Access(enum.Enum):
    """Which of Dify's guards a route runs before its responder."""

    PUBLIC = "public"  # nothing: no token, no read
    ACCOUNT = "account"  # an account bearer whose account exists
    WORKSPACE = "workspace"  # and an active member of the workspace the request names
    APP = "app"  # and an active member of the app's workspace, the app's service API on


@dataclass(frozen=True, slots=True)
class Route:
    """One URI template served by `resource` (its `on_<method>[_suffix]` responders)."""

    uri: str
    resource: Any
    access: Access
    suffix: str | None = None
    parse: Parser | None = None
    scope: str = FULL
    methods: tuple[str, ...] = ("GET",)  # every other one is a 405
    account_budget: bool = False  # spends the caller's per-account budget (Dify's GET /account)


def route_table(resources: Any) -> tuple[Route, ...]:
    """Every route this service answers; anything else is a 404 `not_found`."""
    r = resources
    return (
        Route(f"{BASE}/apps", r.apps, Access.WORKSPACE, parse=parse_apps, scope=APPS_READ),
        # The seed's per-app routes, which Dify no longer serves (docs/api.md, "Differences").
        Route(f"{BASE}/apps/{{app_id}}", r.app, Access.APP, parse=parse_summary, scope=APPS_READ),
        Route(
            f"{BASE}/apps/{{app_id}}/parameters",
            r.app,
            Access.APP,
            suffix="parameters",
            parse=parse_parameters,
            scope=APPS_READ,
        ),
        Route(
            f"{BASE}/apps/{{app_id}}/describe",
            r.app,
            Access.APP,
            suffix="describe",
            parse=parse_describe,
            scope=APPS_READ,
        ),
        Route(f"{BASE}/workspaces", r.workspaces, Access.ACCOUNT, parse=parse_account, scope=WORKSPACE_READ),
        Route(
            f"{BASE}/workspaces/{{workspace_id}}",
            r.workspace,
            Access.ACCOUNT,
            parse=parse_account,
            scope=WORKSPACE_READ,
        ),
        Route(
            f"{BASE}/workspaces/{{workspace_id}}/members",
            r.workspace,
            Access.WORKSPACE,
            suffix="members",
            parse=parse_members,
            scope=WORKSPACE_READ,
        ),
        Route(f"{BASE}/account", r.account, Access.ACCOUNT, parse=parse_account, account_budget=True),
        Route(f"{BASE}/account/sessions", r.sessions, Access.ACCOUNT, parse=parse_sessions),
        Route(f"{BASE}/_version", r.ops, Access.PUBLIC, suffix="version"),
        Route(f"{BASE}/_health", r.ops, Access.PUBLIC, suffix="health"),
        Route(f"{BASE}/openapi.json", r.ops, Access.PUBLIC, suffix="openapi"),
        Route(f"{BASE}/_ready", r.ready, Access.PUBLIC),
        # Operational routes outside the Dify surface (a gateway routes only /openapi/v1 here);
        # the status page checks the admin token itself, so no bearer chain runs for them.
        Route("/metrics", r.metrics, Access.PUBLIC),
        Route("/ops", r.ops_page, Access.PUBLIC, methods=("GET", "POST")),  # POST: the sign-in form
        Route("/ops/status.json", r.ops_page, Access.PUBLIC, suffix="status"),
        Route("/ops/static/{name}", r.ops_page, Access.PUBLIC, suffix="static"),
    )
