"""The HTTP contract's error vocabulary: every refusal carries its status, code and message.

The auth chain, the parameter validation and the query API raise these; the API renders
every one of them with a single handler as `{code, message, status}` (and `details` where
Dify's validation lists the problems).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import ReadModelError

WWW_AUTHENTICATE = 'Bearer realm="api"'


class RequestError(ReadModelError):
    """A request the contract refuses; `body()` is the error document it answers with."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers: Mapping[str, str] = headers or {}

    def body(self) -> dict[str, Any]:
        document: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            document["details"] = list(self.details)
        return document


class BadRequest(RequestError):
    """400 `bad_request`."""


class Unprocessable(RequestError):
    """422 `invalid_param`: a request Dify's validation refuses, with a `{type, loc, msg}` per
    problem in `details` where its request models found them."""

    status: int = 422
    code: str = "invalid_param"


VALIDATION_FAILED = "Request validation failed"


class AppUnavailable(RequestError):
    """400 `app_unavailable`: the app has nothing published to describe its parameters."""

    code: str = "app_unavailable"

    def __init__(self) -> None:
        super().__init__("App unavailable, please check your app configurations.")


class Unauthorized(RequestError):
    """401 `unauthorized`, with the challenge every 401 carries."""

    status: int = 401
    code: str = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


class TokenExpired(Unauthorized):
    """401 `token_expired`: the session exists but its expiry has passed."""

    code: str = "token_expired"

    def __init__(self) -> None:
        super().__init__("token expired")


class Forbidden(RequestError):
    """403 `forbidden`."""

    status: int = 403
    code: str = "forbidden"


class NotFound(RequestError):
    """404 `not_found`."""

    status: int = 404
    code: str = "not_found"


class MethodNotAllowed(RequestError):
    """405 `method_not_allowed`."""

    status: int = 405
    code: str = "method_not_allowed"


# Werkzeug's description of a 429, which Dify's per-token refusal carries; its per-account one
# on GET /account says only this.
TOKEN_BUDGET_SPENT = "This user has exceeded an allotted request count. Try again later."  # noqa: S105
ACCOUNT_BUDGET_SPENT = "rate_limited"


class TooManyRequests(RequestError):
    """429 `too_many_requests`: a rate limit's budget is spent. `retry_after` (seconds until
    the oldest counted request leaves the window) rides along as Retry-After where Dify sends it."""

    status: int = 429
    code: str = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message, headers={} if retry_after is None else {"Retry-After": str(retry_after)})


class InternalServerError(RequestError):
    """500 with no detail: internals are logged, never shown."""

    status: int = 500
    code: str = "internal_server_error"

    def __init__(self) -> None:
        super().__init__("Internal Server Error")


class ServiceUnavailable(RequestError):
    """503 `service_unavailable`: the read model cannot be read now (Redis down, not built yet)."""

    status: int = 503
    code: str = "service_unavailable"
    retry_after_seconds: int = 5

    def __init__(self) -> None:
        super().__init__(
            "The service is temporarily unavailable, please try again later.",
            headers={"Retry-After": str(self.retry_after_seconds)},
        )
