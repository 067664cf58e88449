"""GET /workspaces, GET /account and GET /account/sessions: the caller's own identity."""

from __future__ import annotations

from collections.abc import Mapping

import falcon

from query_api.bodies import account_body, page_body, workspaces_body
from query_api.conditional import send_tagged
from query_api.queries import AccountQuery, SessionsQuery, parse_sessions_query


class WorkspacesResource:
    """Every workspace the caller's account belongs to."""

    def query(self, params: Mapping[str, str], path: Mapping[str, str]) -> AccountQuery:
        return AccountQuery()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx = req.context.auth
        send_tagged(req, resp, workspaces_body(ctx, req.context.read), ctx.session_id)


class AccountResource:
    """The caller: session subject, account, memberships and default workspace."""

    def query(self, params: Mapping[str, str], path: Mapping[str, str]) -> AccountQuery:
        return AccountQuery()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx = req.context.auth
        send_tagged(req, resp, account_body(ctx, req.context.read), ctx.session_id)


class SessionsResource:
    """The caller's live sessions, one page at a time."""

    def query(self, params: Mapping[str, str], path: Mapping[str, str]) -> SessionsQuery:
        return parse_sessions_query(params)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query, read = req.context.query, req.context.read
        send_tagged(req, resp, page_body(query.page, read.total, read.rows), req.context.auth.session_id)
