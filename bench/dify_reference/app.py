"""The reference server: `GET /openapi/v1/apps` on Flask + SQLAlchemy ORM + PostgreSQL, as Dify serves it.

Each request runs Dify's sequence against its own tables: token by SHA-256, the account,
the membership, `COUNT(*)` of the visible apps, the page, the page's tags and authors,
and the workspace name. The auth chain and parameter parsing are the project's own
(`shared.auth`, `query_api.queries`), so both servers answer the same statuses and bodies
and only the way the data is fetched differs.

    granian --interface wsgi --factory 'bench.dify_reference.app:create_from_env'
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from bench.dify_reference.auth import OrmAuthLookup
from bench.dify_reference.listing import AppListing
from query_api.errors import ROUTE_NOT_FOUND
from query_api.queries import AppsQuery, parse_apps
from query_api.validation import first_values
from shared.auth import (
    APPS_READ,
    WorkspaceFacts,
    authenticate,
    authorize_workspace,
    require_account_token,
    require_bearer,
    require_known_prefix,
    token_digest,
)
from shared.auth.errors import InternalServerError, MethodNotAllowed, NotFound, RequestError

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/readmodel_bench_dify"
DATABASE_URL_VARIABLE = "DIFY_REFERENCE_DATABASE_URL"
PER_ROW_VARIABLE = "DIFY_REFERENCE_PER_ROW"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}

NO_WORKSPACE = WorkspaceFacts(None, None)

log = logging.getLogger(__name__)


class ContractJSON(DefaultJSONProvider):
    """Flask's JSON, keeping keys in the contract's order instead of sorting them."""

    sort_keys = False


def create_from_env(env: Mapping[str, str] | None = None) -> Flask:
    """The app configured from `env` (the process environment by default): granian's factory."""
    env = os.environ if env is None else env
    return create_app(
        env.get(DATABASE_URL_VARIABLE, DEFAULT_DATABASE_URL),
        per_row=env.get(PER_ROW_VARIABLE, "") in ("1", "true", "yes"),
    )


def create_app(database_url: str, *, per_row: bool = False) -> Flask:
    """The Flask app over the Dify-style database at `database_url` (a SQLAlchemy URL)."""
    # Dify's defaults: SQLALCHEMY_POOL_SIZE 30, MAX_OVERFLOW 10, recycle 3600 s, UTC sessions.
    engine = create_engine(
        database_url,
        pool_size=30,
        max_overflow=10,
        pool_recycle=3600,
        connect_args={"options": "-c timezone=UTC"},
    )
    sessions = sessionmaker(engine)
    listing = AppListing(per_row=per_row)

    app = Flask(__name__)
    app.json = ContractJSON(app)

    def list_apps() -> Response:
        with sessions() as session:
            return _list_apps(session, listing)

    app.add_url_rule("/openapi/v1/apps", "list_apps", list_apps, methods=["GET"])
    app.register_error_handler(RequestError, _refusal)
    app.register_error_handler(HTTPException, _routing_error)
    app.register_error_handler(Exception, _crash)
    app.after_request(_security_headers)
    return app


def _list_apps(session: Session, listing: AppListing) -> Response:
    lookup = OrmAuthLookup(session)
    token = require_bearer(request.headers.get("Authorization"))
    require_known_prefix(token)
    ctx = authenticate(token, lookup.token(token_digest(token)), time.time_ns() // 1_000_000)
    require_account_token(ctx)
    parsed = parse_apps(first_values(request.args.to_dict(flat=False)), {})
    query = parsed.query
    assert isinstance(query, AppsQuery)
    facts = lookup.workspace(ctx.account_id or "", query.workspace_id) if query.workspace_id else NO_WORKSPACE
    authorize_workspace(ctx, facts, APPS_READ)
    if parsed.problem is not None:
        raise parsed.problem
    page = listing.page(session, query, wants_rag_pipeline=parsed.wants_rag_pipeline)
    return jsonify(
        {
            "page": page.page,
            "limit": page.limit,
            "total": page.total,
            "has_more": page.page * page.limit < page.total,
            "data": page.rows,
        }
    )


def _refusal(error: RequestError) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error.body()), error.status, dict(error.headers)


def _routing_error(error: HTTPException) -> tuple[Response, int, dict[str, str]]:
    if error.code == 405:
        refusal: RequestError = MethodNotAllowed("The method is not allowed for the requested URL.")
    else:
        refusal = NotFound(ROUTE_NOT_FOUND)
    return _refusal(refusal)


def _crash(error: Exception) -> tuple[Response, int, dict[str, str]]:
    log.exception("unhandled error", exc_info=error)
    return _refusal(InternalServerError())


def _security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
