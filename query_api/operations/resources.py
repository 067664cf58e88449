"""The operational routes: /openapi/v1/_ready, /metrics and the admin-only status page at /ops."""

from __future__ import annotations

from importlib import resources
from urllib.parse import parse_qs

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
# The sign-in page's "wrong token" line, shown after a refused attempt.
_HIDDEN_REFUSAL = b'<p id="refused" class="error" hidden>'
_SHOWN_REFUSAL = b'<p id="refused" class="error">'
_MAX_FORM_BYTES = 4096  # a token and a little more; the rest of a larger body is not read
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
        assert _HIDDEN_REFUSAL in self._login
        self._login_refused = self._login.replace(_HIDDEN_REFUSAL, _SHOWN_REFUSAL)
        self._assets = {name: _asset(name) for name in _STATIC_TYPES}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._require_enabled()
        self._html(req, resp)
        if not self._gate.allows(req):
            self._refuse(req, resp, self._login)
            return
        resp.data = self._page

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The sign-in form: the token travels in the body, never in a URL."""
        self._require_enabled()
        self._html(req, resp)
        if not self._gate.matches(_form_token(req)):
            self._refuse(req, resp, self._login_refused)
            return
        # Signed in: the cookie carries on; the redirect makes a reload a GET, not a new POST.
        self._gate.set_session_cookie(req, resp)
        resp.status = 303
        resp.location = "/ops"
        resp.data = b""

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

    def _html(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.content_security_policy = PAGE_CSP
        resp.cache_control = ["no-store"]
        resp.content_type = falcon.MEDIA_HTML

    def _refuse(self, req: falcon.Request, resp: falcon.Response, page: bytes) -> None:
        req.context.auth_failure = "admin_token"
        resp.status = 401
        resp.set_header("WWW-Authenticate", ADMIN_REALM)
        resp.data = page


def _form_token(req: falcon.Request) -> str | None:
    """The `token` field of a URL-encoded form body (read up to a bound), or None."""
    if (req.content_type or "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    body = req.bounded_stream.read(_MAX_FORM_BYTES)
    values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4).get("token")
    return values[-1] if values else None
