"""One error handler: every refusal, Falcon's own included, answers `{code, message, status}`."""

from __future__ import annotations

import logging
from typing import Any

import falcon
import orjson

from query_api.repository import ReadModelUnavailableError
from shared.auth.errors import (
    BadRequest,
    Forbidden,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestError,
    ServiceUnavailable,
    Unauthorized,
)

logger = logging.getLogger(__name__)

ROUTE_NOT_FOUND = (
    "The requested URL was not found on the server. "
    "If you entered the URL manually please check your spelling and try again."
)
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."

_BY_STATUS: dict[int, type[RequestError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
}


def render_request_error(req: falcon.Request, resp: falcon.Response, ex: RequestError, params: Any) -> None:
    """Answer with the error's document, status and headers (e.g. WWW-Authenticate)."""
    resp.status = ex.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(ex.body())
    for name, value in ex.headers.items():
        resp.set_header(name, value)


def render_falcon_error(
    req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: Any
) -> None:
    """Falcon's own errors (unknown route, method not allowed, …) in the contract's shape."""
    error = _translate(ex)
    render_request_error(req, resp, error, params)
    if isinstance(ex, falcon.HTTPMethodNotAllowed) and ex.headers:
        allow = dict(ex.headers).get("Allow")
        if allow:
            resp.set_header("Allow", allow)


def render_unavailable(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    """Redis did not answer (or holds no read model yet): logged without a traceback (it is not
    a bug), a 503 with Retry-After out, so clients and load balancers try again."""
    logger.warning("read model unavailable on %s %s: %s", req.method, req.path, ex)
    render_request_error(req, resp, ServiceUnavailable(), params)


def render_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    """The catch-all: log everything, show nothing."""
    logger.exception("unhandled error on %s %s", req.method, req.path)
    render_request_error(req, resp, InternalServerError(), params)


def install_error_handlers(app: falcon.App) -> None:
    """Register the handlers; Falcon picks the most specific class for each exception."""
    app.add_error_handler(Exception, render_unexpected)
    app.add_error_handler(falcon.HTTPError, render_falcon_error)
    app.add_error_handler(RequestError, render_request_error)
    app.add_error_handler(ReadModelUnavailableError, render_unavailable)


def _translate(ex: falcon.HTTPError) -> RequestError:
    status = ex.status_code
    if status >= 500:
        return InternalServerError()
    if isinstance(ex, falcon.HTTPNotFound):
        return NotFound(ROUTE_NOT_FOUND)
    if isinstance(ex, falcon.HTTPMethodNotAllowed):
        return MethodNotAllowed(METHOD_NOT_ALLOWED)
    kind = _BY_STATUS.get(status)
    message = ex.description or ex.title or "Bad Request"
    if kind is None:
        error = BadRequest(message)
        error.status = status  # a 4xx Falcon raises that the contract has no code of its own for
        return error
    return kind(message)
