"""The route table: every route, its resource and what it needs from the caller, in one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

BASE = "/openapi/v1"


class Access(enum.Enum):
    """What a route asks of the caller before its responder runs."""

    PUBLIC = "public"  # nothing: no token, no read
    BEARER = "bearer"  # auth step 1 (any subject)
    APP_READ = "app-read"  # steps 1-4: scope apps:read, an account, an active member


@dataclass(frozen=True, slots=True)
class Route:
    """One URI template served by `resource` (its `on_get[_suffix]` responder)."""

    uri: str
    resource: Any
    access: Access
    suffix: str | None = None


def route_table(resources: Any) -> tuple[Route, ...]:
    """Every route this service answers; anything else is a 404 `not_found`."""
    r = resources
    return (
        Route(f"{BASE}/apps", r.apps, Access.APP_READ),
        Route(f"{BASE}/apps/{{app_id}}", r.app, Access.APP_READ),
        Route(f"{BASE}/apps/{{app_id}}/parameters", r.app, Access.APP_READ, suffix="parameters"),
        Route(f"{BASE}/apps/{{app_id}}/describe", r.app, Access.APP_READ, suffix="describe"),
        Route(f"{BASE}/workspaces", r.workspaces, Access.BEARER),
        Route(f"{BASE}/account", r.account, Access.BEARER),
        Route(f"{BASE}/account/sessions", r.sessions, Access.BEARER),
        Route(f"{BASE}/_version", r.ops, Access.PUBLIC, suffix="version"),
        Route(f"{BASE}/_health", r.ops, Access.PUBLIC, suffix="health"),
        Route(f"{BASE}/openapi.json", r.ops, Access.PUBLIC, suffix="openapi"),
        Route(f"{BASE}/_ready", r.ready, Access.PUBLIC),
        # Operational routes outside the Dify surface (a gateway routes only /openapi/v1 here);
        # the status page checks the admin token itself, so no bearer chain runs for them.
        Route("/metrics", r.metrics, Access.PUBLIC),
        Route("/ops", r.ops_page, Access.PUBLIC),
        Route("/ops/status.json", r.ops_page, Access.PUBLIC, suffix="status"),
        Route("/ops/static/{name}", r.ops_page, Access.PUBLIC, suffix="static"),
    )
