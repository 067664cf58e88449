"""GET /workspaces[/{id}[/members]], GET /account and GET /account/sessions: the caller's own."""

from __future__ import annotations

import falcon

from query_api.bodies import account_body, members_body, page_body, workspace_body, workspaces_body
from query_api.conditional import send_tagged
from query_api.middleware import Served
from query_api.queries import MembersQuery, SessionsQuery
from shared.auth.chain import WORKSPACE_NOT_FOUND, canonical_uuid
from shared.auth.errors import NotFound
from shared.readmodel.reads import AccountRead, MembersRead, SessionPageRead


class WorkspacesResource:
    """Every workspace the caller's account belongs to."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        served: Served = req.context.served
        read: AccountRead = served.read  # type: ignore[assignment]
        send_tagged(req, resp, workspaces_body(read), served.auth.session_id)


class WorkspaceResource:
    """One of the caller's workspaces, and its members."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, workspace_id: str) -> None:
        served: Served = req.context.served
        read: AccountRead = served.read  # type: ignore[assignment]
        wanted = canonical_uuid(workspace_id)
        membership = next((m for m in read.memberships if m.workspace_id == wanted), None)
        if membership is None:
            # Not a member, unknown, or not a UUID at all (Dify answers 500 for that one).
            raise NotFound(WORKSPACE_NOT_FOUND)
        send_tagged(req, resp, workspace_body(membership, read), served.auth.session_id)

    def on_get_members(self, req: falcon.Request, resp: falcon.Response, workspace_id: str) -> None:
        served: Served = req.context.served
        query: MembersQuery = served.query
        read: MembersRead = served.read  # type: ignore[assignment]
        assert query.page is not None
        send_tagged(req, resp, members_body(query.page, read.members), served.auth.session_id)


class AccountResource:
    """The caller: session subject, account, memberships and default workspace."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        served: Served = req.context.served
        read: AccountRead = served.read  # type: ignore[assignment]
        send_tagged(req, resp, account_body(served.auth, read), served.auth.session_id)


class SessionsResource:
    """The caller's live sessions, one page at a time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        served: Served = req.context.served
        query: SessionsQuery = served.query
        read: SessionPageRead = served.read  # type: ignore[assignment]
        page = query.page
        assert page is not None
        send_tagged(
            req, resp, page_body(page.page, page.limit, read.total, read.rows), served.auth.session_id
        )
