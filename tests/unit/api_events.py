"""Event builders for the API tests: each method returns one contract event, versions counted."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon import testing

from query_api.app import create_app
from shared.events import Event, parse_event
from shared.settings import Settings
from tests.fixtures.readmodel import project
from tests.support.limits import UNLIMITED

BASE_TIME = datetime(2026, 4, 27, 10, 0, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def at(seconds: float = 0) -> str:
    """A timestamp `seconds` after BASE_TIME, RFC 3339 with offset."""
    return (BASE_TIME + timedelta(seconds=seconds)).isoformat()


def account_token() -> str:
    return "dfoa_" + secrets.token_hex(16)


def sso_token() -> str:
    return "dfoe_" + secrets.token_hex(16)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class History:
    """Builds events in order; each stream's versions run 1, 2, 3, …"""

    def __init__(self) -> None:
        self._versions: defaultdict[str, int] = defaultdict(int)

    def event(self, event_type: str, stream: str, workspace_id: str | None, data: dict[str, Any]) -> Event:
        self._versions[stream] += 1
        return parse_event(
            {
                "id": new_id(),
                "type": event_type,
                "schema": 1,
                "stream": stream,
                "version": self._versions[stream],
                "workspace_id": workspace_id,
                "occurred_at": at(),
                "data": data,
            },
        )

    # --- workspaces -------------------------------------------------------------------

    def workspace_created(
        self, ws: str, name: str = "Workspace", status: str | None = None, created_at: str | None = None
    ) -> Event:
        data: dict[str, Any] = {"name": name}
        if status is not None:
            data["status"] = status
        if created_at is not None:
            data["created_at"] = created_at
        return self.event("workspace.created", f"workspace:{ws}", ws, data)

    def workspace_renamed(self, ws: str, name: str) -> Event:
        return self.event("workspace.renamed", f"workspace:{ws}", ws, {"name": name})

    def member_joined(self, ws: str, account: str, role: str = "normal", *, current: bool = False) -> Event:
        return self.event(
            "workspace.member_joined",
            f"workspace:{ws}",
            ws,
            {"account_id": account, "role": role, "current": current},
        )

    def member_role_changed(self, ws: str, account: str, role: str) -> Event:
        return self.event(
            "workspace.member_role_changed", f"workspace:{ws}", ws, {"account_id": account, "role": role}
        )

    def member_left(self, ws: str, account: str) -> Event:
        return self.event("workspace.member_left", f"workspace:{ws}", ws, {"account_id": account})

    def member_made_current(self, ws: str, account: str) -> Event:
        return self.event("workspace.member_made_current", f"workspace:{ws}", ws, {"account_id": account})

    # --- accounts ---------------------------------------------------------------------

    def account_created(
        self, account: str, name: str = "Ada", email: str = "ada@example.com", status: str = "active"
    ) -> Event:
        return self.event(
            "account.created", f"account:{account}", None, {"name": name, "email": email, "status": status}
        )

    def account_updated(self, account: str, **changes: Any) -> Event:
        return self.event("account.updated", f"account:{account}", None, changes)

    # --- apps -------------------------------------------------------------------------

    def app_created(
        self,
        app: str,
        ws: str,
        created_by: str,
        *,
        name: str = "App",
        description: str = "",
        mode: str = "chat",
        status: str = "normal",
        enable_api: bool = True,
        is_universal: bool = False,
        created_at: str | None = None,
        updated_at: str | None = None,
        tags: list[str] | None = None,
    ) -> Event:
        return self.event(
            "app.created",
            f"app:{app}",
            ws,
            {
                "name": name,
                "description": description,
                "mode": mode,
                "status": status,
                "enable_api": enable_api,
                "is_universal": is_universal,
                "created_by": created_by,
                "created_at": created_at or at(),
                "updated_at": updated_at or created_at or at(),
                "tags": tags or [],
            },
        )

    def app_updated(self, app: str, ws: str, **changes: Any) -> Event:
        return self.event("app.updated", f"app:{app}", ws, changes)

    def app_tags_set(self, app: str, ws: str, tags: list[str]) -> Event:
        return self.event("app.tags_set", f"app:{app}", ws, {"tags": tags})

    def model_config_published(self, app: str, ws: str, **config: Any) -> Event:
        return self.event("app.model_config_published", f"app:{app}", ws, config)

    def workflow_published(
        self,
        app: str,
        ws: str,
        *,
        features: dict[str, Any] | None = None,
        start_variables: list[dict[str, Any]] | None = None,
    ) -> Event:
        return self.event(
            "app.workflow_published",
            f"app:{app}",
            ws,
            {"workflow_id": new_id(), "features": features or {}, "start_variables": start_variables or []},
        )

    def app_deleted(self, app: str, ws: str) -> Event:
        return self.event("app.deleted", f"app:{app}", ws, {})

    # --- sessions ---------------------------------------------------------------------

    def session_issued(
        self,
        session: str,
        token: str,
        *,
        account: str | None = None,
        subject_email: str | None = None,
        subject_issuer: str | None = None,
        client_id: str = "difyctl",
        device_label: str | None = "laptop",
        created_at: str | None = None,
        expires_at: str | None = "",
    ) -> Event:
        """A CLI login; it expires 30 days after BASE_TIME, as Dify sets, unless `expires_at` says
        otherwise (None: never)."""
        sso = token.startswith("dfoe_")
        return self.event(
            "session.issued",
            f"session:{session}",
            None,
            {
                "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                "prefix": token[:5],
                "subject_type": "external_sso" if sso else "account",
                "account_id": None if sso else account,
                "subject_email": subject_email,
                "subject_issuer": subject_issuer,
                "client_id": client_id,
                "device_label": device_label,
                "created_at": created_at or at(),
                "expires_at": at(30 * 86400) if expires_at == "" else expires_at,
            },
        )

    def session_used(self, session: str, last_used_at: str) -> Event:
        return self.event("session.used", f"session:{session}", None, {"last_used_at": last_used_at})

    def session_revoked(self, session: str, revoked_at: str | None = None) -> Event:
        return self.event("session.revoked", f"session:{session}", None, {"revoked_at": revoked_at or at()})


# --- a harness: a read model built by the real projector, and the API on top of it ----------

NOW = BASE_TIME + timedelta(days=1)  # the server clock of every API test


class Api:
    """The query API on `redis`, and steps that project a scenario event by event."""

    def __init__(
        self, redis: Any, env: dict[str, str] | None = None, clock: Callable[[], float] = NOW.timestamp
    ) -> None:
        self.redis = redis
        self.history = History()
        self.projected = 0
        app = create_app(Settings.from_env(UNLIMITED | (env or {})), redis=redis, clock=clock)
        self.client = testing.TestClient(app)

    def project(self, *events: Event) -> None:
        project(self.redis, events)
        self.projected += len(events)

    def get(
        self,
        path: str,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        query_string: str | None = None,
        **params: Any,
    ) -> Any:
        """GET a route; `query_string` sends a raw one (repeated parameters) instead of `params`."""
        sent = dict(headers or {})
        if token is not None:
            sent.update(bearer(token))
        if query_string is not None:
            return self.client.simulate_get(f"/openapi/v1{path}", query_string=query_string, headers=sent)
        query = {name: str(value) for name, value in params.items()}
        return self.client.simulate_get(f"/openapi/v1{path}", params=query, headers=sent)

    # --- scenario steps, each projected at once ------------------------------------------

    def workspace(
        self, name: str = "Workspace", status: str | None = None, created_at: str | None = None
    ) -> str:
        ws = new_id()
        self.project(self.history.workspace_created(ws, name, status, created_at))
        return ws

    def account(self, name: str = "Ada", status: str = "active", email: str | None = None) -> str:
        account = new_id()
        email = email or f"{account[:8]}@example.com"
        self.project(self.history.account_created(account, name, email, status))
        return account

    def join(self, ws: str, account: str, role: str = "normal", *, current: bool = False) -> None:
        self.project(self.history.member_joined(ws, account, role, current=current))

    def leave(self, ws: str, account: str) -> None:
        self.project(self.history.member_left(ws, account))

    def switch(self, ws: str, account: str) -> None:
        self.project(self.history.member_made_current(ws, account))

    def login(self, account: str, **session: Any) -> str:
        token = account_token()
        self.project(self.history.session_issued(new_id(), token, account=account, **session))
        return token

    def sso_login(self, email: str | None, issuer: str | None, **session: Any) -> str:
        token = sso_token()
        issued = self.history.session_issued
        self.project(issued(new_id(), token, subject_email=email, subject_issuer=issuer, **session))
        return token

    def member(
        self, ws: str, name: str = "Ada", role: str = "normal", status: str = "active"
    ) -> tuple[str, str]:
        """A new account, member of `ws`, and a token of it."""
        account = self.account(name, status)
        self.join(ws, account, role)
        return account, self.login(account)

    def app(self, ws: str, created_by: str, **fields: Any) -> str:
        app = new_id()
        self.project(self.history.app_created(app, ws, created_by, **fields))
        return app


class ApiContract:
    """Base of the API suites: subclasses choose the Redis (fakeredis here, real in integration)."""

    @pytest.fixture
    def redis_client(self) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def api(self, redis_client: Any) -> Api:
        return Api(redis_client)

    @pytest.fixture
    def world(self, api: Api) -> dict[str, Any]:
        """A workspace, its owner with a token, and one published chat app."""
        ws = api.workspace("Alpha")
        owner, token = api.member(ws, "Ada", "owner")
        app = api.app(ws, owner, name="Planner")
        api.project(api.history.model_config_published(app, ws))
        return {"ws": ws, "owner": owner, "token": token, "app": app}


SECURITY_HEADERS = {"x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'"}


def assert_headers(result: Any) -> None:
    """What every response carries, errors and 304s included."""
    for name, value in SECURITY_HEADERS.items():
        assert result.headers.get(name) == value, name
    if result.status_code == 304:
        assert "content-type" not in result.headers  # a 304 has no content to type
    else:
        assert result.headers.get("content-type") == "application/json"
    assert result.headers.get("x-readmodel-position", "").isdigit()


def assert_error(
    result: Any, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> None:
    """The contract's error body, exactly, with its headers."""
    expected: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        expected["details"] = details
    assert result.status_code == status, result.text
    assert result.json == expected
    assert_headers(result)
    if status == 401:
        assert result.headers.get("www-authenticate") == 'Bearer realm="api"'
    else:
        assert "www-authenticate" not in result.headers


def assert_invalid(result: Any, *locs: str) -> None:
    """A 422 `Request validation failed` listing problems with exactly these parameters."""
    assert result.status_code == 422, result.text
    body = result.json
    assert [detail["loc"] for detail in body["details"]] == [[loc] for loc in locs]
    assert_error(result, 422, "invalid_param", "Request validation failed", body["details"])
