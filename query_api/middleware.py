"""Falcon adapters: the auth chain before every protected responder, headers on every response."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import falcon

from query_api.queries import AppQuery, Query
from query_api.repository import Read, Repository
from query_api.routes import Access, Route
from shared.auth.chain import (
    APP_NOT_FOUND,
    account_or_404,
    require_scope,
    require_workspace_member,
    validate_bearer,
)
from shared.auth.errors import NotFound, RequestError
from shared.auth.scopes import APPS_READ
from shared.auth.subjects import TokenRecord
from shared.readmodel.reads import AppPageRead, AppRead

QueryBuilder = Callable[[Mapping[str, str], Mapping[str, str]], Query]

# With parameters already refused, only the caller is read: an app read of no app.
_CALLER_ONLY = AppQuery(app_id="", fields=())

SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)
POSITION_HEADER = "X-Readmodel-Position"


class RequestRead:
    """The auth chain's lookup over the request's one read, made when the chain first asks."""

    def __init__(self, repository: Repository, query: Query, now_ms: int) -> None:
        self._repository = repository
        self._query = query
        self._now_ms = now_ms
        self.result: Read | None = None

    def token(self, token_hash: str) -> TokenRecord | None:
        self.result = self._repository.read(self._query, token_hash, self._now_ms)
        return self.result.head.token

    def role(self, account_id: str, workspace_id: str) -> str | None:
        result = self.result
        if not isinstance(result, AppPageRead | AppRead) or result.workspace_id != workspace_id:
            return None  # the read was about another workspace: no membership known here
        token = result.head.token
        if token is None or token.account_id != account_id:
            return None
        return result.role


class AuthMiddleware:
    """Applies the contract's auth chain, in order, using what the route's read returned.

    The read happens inside step 1 (it is the token look-up), so a request costs one round
    trip: the script returns the token, the account status, the membership and the data.
    Bad parameters are found first but raised only after steps 1-3, as the contract orders.
    """

    def __init__(self, routes: Iterable[Route], repository: Repository, clock: Callable[[], float]) -> None:
        self._repository = repository
        self._clock = clock
        self._routes: dict[str, tuple[Access, QueryBuilder]] = {}
        for route in routes:
            if route.access is not Access.PUBLIC:
                name = "query" if route.suffix is None else f"query_{route.suffix}"
                self._routes[route.uri] = (route.access, getattr(route.resource, name))

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None:
            return
        if "" in params.values():
            # Falcon lets `{app_id}` match an empty segment; `/apps/` is no route of this API.
            raise falcon.HTTPRouteNotFound
        if req.method != "GET":
            # Falcon would answer OPTIONS itself with an empty 200; this API only has GETs.
            raise falcon.HTTPMethodNotAllowed(["GET"])
        entry = self._routes.get(req.uri_template or "")
        if entry is None:
            return
        access, build = entry
        deferred: RequestError | None = None
        try:
            query = build(_single_values(req.params), params)
        except RequestError as exc:
            query, deferred = _CALLER_ONLY, exc
        now_ms = int(self._clock() * 1000)
        lookup = RequestRead(self._repository, query, now_ms)
        try:
            ctx = validate_bearer(req.get_header("Authorization"), lookup, now_ms)
        finally:
            if lookup.result is not None:
                req.context.position = lookup.result.head.position
        req.context.auth = ctx
        if access is Access.APP_READ:
            require_scope(ctx, APPS_READ)
            account_or_404(ctx)
        if deferred is not None:
            raise deferred
        read = lookup.result
        if access is Access.APP_READ:
            tenant = read.workspace_id if isinstance(read, AppPageRead | AppRead) else None
            if tenant is None:
                raise NotFound(APP_NOT_FOUND)
            require_workspace_member(ctx, tenant, lookup)
        req.context.query = query
        req.context.read = read


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


def _single_values(params: Mapping[str, Any]) -> dict[str, str]:
    # A repeated parameter counts with its last value.
    return {name: value if isinstance(value, str) else value[-1] for name, value in params.items()}
