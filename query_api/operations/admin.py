"""The admin token check in front of the status page: a bearer header, or a cookie set at login."""

from __future__ import annotations

import hashlib
import hmac

import falcon

COOKIE = "readmodel_ops"
COOKIE_PATH = "/ops"
_SESSION_CONTEXT = b"readmodel ops session v1"


class AdminGate:
    """Accepts `Authorization: Bearer <admin token>` or the login cookie; nothing else.

    The cookie holds an HMAC of the token, never the token itself, so a leaked cookie jar
    does not leak the setting. A difyctl token is never an admin token: the two are
    compared only against the configured admin token.
    """

    def __init__(self, admin_token: str | None) -> None:
        self._token = admin_token.encode() if admin_token else None
        self._session = None
        if self._token is not None:
            self._session = hmac.new(self._token, _SESSION_CONTEXT, hashlib.sha256).hexdigest()

    @property
    def enabled(self) -> bool:
        """False when no admin token is configured: the status page then does not exist."""
        return self._token is not None

    def matches(self, token: str | None) -> bool:
        """Whether `token` is the admin token (compared in constant time)."""
        if self._token is None or not token:
            return False
        return hmac.compare_digest(token.encode(), self._token)

    def allows(self, req: falcon.Request) -> bool:
        """Whether the request carries the admin token or a valid login cookie."""
        if self._session is None:
            return False
        header = req.get_header("Authorization") or ""
        words = header.split()
        if len(words) == 2 and words[0].lower() == "bearer" and self.matches(words[1]):
            return True
        cookies = req.get_cookie_values(COOKIE) or []
        return any(hmac.compare_digest(value.encode(), self._session.encode()) for value in cookies)

    def set_session_cookie(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Log the browser in: an HttpOnly, same-site cookie scoped to the page's path.

        `Secure` when the browser came over TLS, to this process or to a proxy in front of it
        (`Forwarded: proto=https` or `X-Forwarded-Proto: https`). Believing the header costs
        nothing: a client that lies about it only keeps its own cookie off plain HTTP.
        """
        assert self._session is not None
        resp.set_cookie(
            COOKIE,
            self._session,
            path=COOKIE_PATH,
            http_only=True,
            same_site="Strict",
            secure=req.forwarded_scheme == "https",
            max_age=12 * 3600,
        )
