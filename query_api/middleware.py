"""Falcon adapters: Dify's auth pipeline before every protected responder, headers on every response."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import falcon

from query_api.queries import Parsed
from query_api.rate_limit import RateLimiter
from query_api.repository import Caller, Read, Repository
from query_api.routes import Access, Route
from query_api.validation import first_values
from shared.auth.chain import (
    authenticate,
    authorize_app,
    authorize_workspace,
    require_account,
    require_account_token,
    require_bearer,
    require_known_prefix,
    token_digest,
)
from shared.auth.subjects import AuthContext
from shared.readmodel.reads import AppPageRead, AppRead, MembersRead

SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)
POSITION_HEADER = "X-Readmodel-Position"


@dataclass(frozen=True, slots=True)
class Served:
    """What a responder gets (`req.context.served`): the parsed request, its read, the caller."""

    parsed: Parsed
    read: Read
    auth: AuthContext

    @property
    def query(self) -> Any:
        return self.parsed.query


class AuthMiddleware:
    """Runs Dify's guard for the route, in Dify's order, over the request's one read.

    The bearer is extracted and its prefix checked first, and the token spends from its rate
    budget (in Dify's Redis here, or inside the read); then the route's parameters are parsed
    (a validation error is kept aside), the read model is read once for the caller, and the
    pipeline decides from what came back. The kept-aside validation error is raised last,
    where Dify's request models run.
    """

    def __init__(
        self,
        routes: Iterable[Route],
        repository: Repository,
        clock: Callable[[], float],
        limiter: RateLimiter,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._limiter = limiter
        self._routes = {route.uri: route for route in routes if route.access is not Access.PUBLIC}
        self._methods = {route.uri: route.methods for route in routes}

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None:
            return
        if "" in params.values():
            # Falcon lets `{app_id}` match an empty segment; `/apps/` is no route of this API.
            raise falcon.HTTPRouteNotFound
        allowed = self._methods.get(req.uri_template or "", ("GET",))
        if req.method not in allowed:
            # Falcon would answer OPTIONS itself with an empty 200; only the listed methods are served.
            raise falcon.HTTPMethodNotAllowed(list(allowed))
        route = self._routes.get(req.uri_template or "")
        if route is None or route.parse is None:
            return
        token = require_bearer(req.get_header("Authorization"))
        require_known_prefix(token)
        digest = token_digest(token)
        now_ms = int(self._clock() * 1000)
        self._limiter.spend_token(digest, now_ms)
        parsed = route.parse(first_values(req.params), params)
        read = self._repository.read(parsed.query, Caller(digest, now_ms))
        req.context.position = read.head.position
        ctx = authenticate(token, read.head.token, now_ms)
        require_account_token(ctx)
        match route.access:
            case Access.ACCOUNT:
                require_account(ctx)
            case Access.WORKSPACE:
                assert isinstance(read, AppPageRead | MembersRead)
                authorize_workspace(ctx, read.workspace, route.scope)
            case Access.APP:
                assert isinstance(read, AppRead)
                authorize_app(ctx, read.app, parsed.requested_workspace, route.scope)
            case Access.PUBLIC:
                pass
        if parsed.problem is not None:
            raise parsed.problem
        if route.account_budget and ctx.account_id is not None:
            self._limiter.spend_account(ctx.account_id, now_ms)
        req.context.served = Served(parsed, read, ctx)


class ResponseHeaders:
    """Security headers and the read model position on every response, errors and 304s included."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        for name, value in SECURITY_HEADERS:
            resp.set_header(name, value)
        position = getattr(req.context, "position", None)
        if position is None:
            position = self._repository.last_position
        resp.set_header(POSITION_HEADER, str(position))
