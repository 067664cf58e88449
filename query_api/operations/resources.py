"""The operational routes: /openapi/v1/_ready, /metrics and the admin-only status page at /ops."""

from __future__ import annotations

from importlib import resources

import falcon
import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from query_api.operations.admin import AdminGate
from query_api.operations.metrics import ApiMetrics
from query_api.operations.readiness import Readiness
from query_api.operations.status import OpsStatus
from shared.auth.errors import NotFound, Unauthorized

ROUTE_NOT_FOUND = "The requested URL was not found on the server."
ADMIN_TOKEN_REQUIRED = "admin token required"  # noqa: S105 (a message, not a secret)
ADMIN_REALM = 'Bearer realm="ops"'
# Everything the page loads comes from this service: no inline script, no CDN.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_STATIC_TYPES = {"ops.js": "text/javascript; charset=utf-8", "ops.css": "text/css; charset=utf-8"}


def _asset(name: str) -> bytes:
    return resources.files("query_api.operations").joinpath("static", name).read_bytes()


class ReadyResource:
    """GET /openapi/v1/_ready: 200 `{"ready": true, ...}` or 503 with the reasons."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self._readiness.check()
        resp.status = 200 if report.ready else 503
        resp.data = orjson.dumps(report.body())


class MetricsResource:
    """GET /metrics: the Prometheus exposition (every worker's, merged, under granian)."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = self._metrics.render()


class OpsPageResource:
    """GET /ops (the page), /ops/status.json (what it polls) and /ops/static/{name}.

    With no admin token configured the page does not exist (404, like any unknown URL):
    there would be no way to log in, and a 401 would advertise a door with no key.
    """

    def __init__(self, gate: AdminGate, status: OpsStatus) -> None:
        self._gate = gate
        self._status = status
        self._page = _asset("ops.html")
        self._login = _asset("login.html")
        self._assets = {name: _asset(name) for name in _STATIC_TYPES}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._require_enabled()
        req.context.content_security_policy = PAGE_CSP
        resp.cache_control = ["no-store"]
        resp.content_type = falcon.MEDIA_HTML
        token = req.get_param("token")
        if token is not None:
            if self._gate.matches(token):
                # Logged in: the cookie carries on, and the redirect takes the token out of the URL.
                self._gate.set_session_cookie(req, resp)
                resp.status = 303
                resp.location = "/ops"
                resp.data = b""
                return
            self._refuse(req, resp)
            return
        if not self._gate.allows(req):
            self._refuse(req, resp)
            return
        resp.data = self._page

    def on_get_status(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._require_enabled()
        resp.cache_control = ["no-store"]
        if not self._gate.allows(req):
            req.context.auth_failure = "admin_token"
            raise Unauthorized(ADMIN_TOKEN_REQUIRED)
        resp.data = orjson.dumps(self._status.snapshot(), option=orjson.OPT_NON_STR_KEYS)

    def on_get_static(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._require_enabled()
        asset = self._assets.get(name)
        if asset is None:
            raise NotFound(ROUTE_NOT_FOUND)
        resp.content_type = _STATIC_TYPES[name]
        resp.cache_control = ["no-cache"]
        resp.data = asset

    def _require_enabled(self) -> None:
        if not self._gate.enabled:
            raise NotFound(ROUTE_NOT_FOUND)

    def _refuse(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.auth_failure = "admin_token"
        resp.status = 401
        resp.set_header("WWW-Authenticate", ADMIN_REALM)
        resp.data = self._login
