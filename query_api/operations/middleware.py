"""Per-request telemetry: the request id, the latency histogram and auth failures by reason."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

import falcon

from query_api.operations.access import AccessLog
from query_api.operations.metrics import ApiMetrics
from shared.logs import request_id, scrub

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of requests no route took: never the raw path

# The auth pipeline's messages (shared/auth/chain.py) and the reason label each counts under.
_AUTH_REASONS = (
    (b"bearer required", "missing_token"),
    (b"unknown token prefix", "unknown_prefix"),
    (b"token unknown or revoked", "unknown_or_revoked"),
    (b"token expired", "expired"),
    (b"unsupported_token_type", "unsupported_token_type"),
    (b"account not found", "unknown_account"),
    (b"insufficient_scope", "insufficient_scope"),
    (b"service_api_disabled", "service_api_disabled"),
    (b"workspace unavailable", "workspace_unavailable"),
    (b"workspace not found", "not_a_member"),
)


def new_request_id() -> str:
    return os.urandom(8).hex()


class RequestTelemetry:
    """Falcon middleware; first in the list, so it times everything and writes headers last.

    With `access_log`, every request also leaves one info line on `readmodel.access`: its
    request id, method, route template (never the raw path), status and duration in µs.
    """

    def __init__(
        self,
        metrics: ApiMetrics,
        *,
        access_log: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._metrics = metrics
        self._access_log = AccessLog() if access_log else None
        self._clock = clock

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx = req.context
        ctx.started = self._clock()
        incoming = req.get_header(REQUEST_ID_HEADER)
        # The id goes unscrubbed into the access line: one the scrubber would mask (it looks
        # like a token) is replaced.
        sane = (
            incoming is not None and _SANE_ID.fullmatch(incoming) is not None and scrub(incoming) == incoming
        )
        rid = incoming if sane else new_request_id()
        ctx.request_id = rid
        ctx.request_id_token = request_id.set(rid)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        ctx = req.context
        resp.set_header(REQUEST_ID_HEADER, ctx.request_id)
        csp = ctx.get("content_security_policy")
        if csp is not None:  # the status page tightens the contract's header
            resp.set_header("Content-Security-Policy", csp)
        status = resp.status_code
        method = req.method if req.method in _METHODS else "OTHER"
        route = req.uri_template or UNMATCHED
        seconds = self._clock() - ctx.started
        self._metrics.observe_request(route, method, str(status), seconds)
        if status in (401, 403) or (status == 404 and b"workspace not found" in (resp.data or b"")):
            # Dify answers a stranger 404 so as not to tell the workspace exists: still a refusal.
            self._metrics.auth_failures.labels(_auth_reason(ctx, resp)).inc()
        if self._access_log is not None:
            self._access_log.record(ctx.request_id, method, route, status, int(seconds * 1e6))
        request_id.reset(ctx.request_id_token)


def _auth_reason(ctx: Any, resp: falcon.Response) -> str:
    reason = ctx.get("auth_failure")
    if reason is not None:
        return reason
    body = resp.data or b""
    for needle, label in _AUTH_REASONS:
        if needle in body:
            return label
    return "other"
