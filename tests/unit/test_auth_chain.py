"""Dify's auth pipeline as plain functions: each step's refusal, in Dify's words and order."""

from __future__ import annotations

import hashlib

import pytest

from shared.auth import (
    ACCOUNT,
    APPS_READ,
    APPS_RUN,
    EXTERNAL_SSO,
    FULL,
    WORKSPACE_READ,
    AppFacts,
    AuthContext,
    TokenRecord,
    WorkspaceFacts,
    authenticate,
    authorize_app,
    authorize_workspace,
    canonical_uuid,
    extract_bearer,
    require_account,
    require_account_token,
    require_bearer,
    require_known_prefix,
    require_scope,
    scopes_for_token,
    token_digest,
)
from shared.auth.errors import RequestError

NOW = 1_777_000_000_000
ACCOUNT_TOKEN = "dfoa_" + "a" * 32
SSO_TOKEN = "dfoe_" + "b" * 32
WS = "a9b106a3-9eaa-485b-a76e-8453a312c30b"


def record(**changes: object) -> TokenRecord:
    base: dict[str, object] = {
        "session_id": "s1",
        "subject_type": ACCOUNT,
        "account_id": "acct-1",
        "subject_email": None,
        "subject_issuer": None,
        "expires_at_ms": None,
        "revoked": False,
        "account_status": "active",
    }
    base.update(changes)
    return TokenRecord(**base)  # type: ignore[arg-type]


def context(**changes: object) -> AuthContext:
    return authenticate(ACCOUNT_TOKEN, record(**changes), NOW)


def refusal(excinfo: pytest.ExceptionInfo[RequestError]) -> tuple[int, str, str]:
    error = excinfo.value
    return error.status, error.code, error.message


# --- the bearer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"Bearer {ACCOUNT_TOKEN}", ACCOUNT_TOKEN),
        (f"bearer {ACCOUNT_TOKEN}", ACCOUNT_TOKEN),
        (f"BEARER   {ACCOUNT_TOKEN}  ", ACCOUNT_TOKEN),
        # Dify keeps everything after the scheme: the extra word is part of the token.
        (f"Bearer {ACCOUNT_TOKEN} extra", f"{ACCOUNT_TOKEN} extra"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Basic Zm9vOmJhcg==", None),
        (f"Token {ACCOUNT_TOKEN}", None),
        (f" Bearer {ACCOUNT_TOKEN}", None),
    ],
)
def test_the_bearer_is_extracted_as_dify_does(header: str | None, token: str | None) -> None:
    assert extract_bearer(header) == token


def test_no_bearer_is_bearer_required() -> None:
    with pytest.raises(RequestError) as excinfo:
        require_bearer("Basic Zm9vOmJhcg==")
    assert refusal(excinfo) == (401, "unauthorized", "bearer required")
    assert excinfo.value.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("token", ["xyz_abc", "app-123", "dfo_a", "DFOA_abc"])
def test_an_unknown_prefix_is_a_401(token: str) -> None:
    with pytest.raises(RequestError) as excinfo:
        require_known_prefix(token)
    assert refusal(excinfo) == (401, "unauthorized", "unknown token prefix")


def test_the_digest_is_sha256_hex_and_survives_unpaired_surrogates() -> None:
    assert token_digest(ACCOUNT_TOKEN) == hashlib.sha256(ACCOUNT_TOKEN.encode()).hexdigest()
    assert len(token_digest("dfoa_\udcff\ud800")) == 64


# --- authentication ----------------------------------------------------------------------


def test_a_live_account_token_authenticates_with_full_scope() -> None:
    ctx = authenticate(ACCOUNT_TOKEN, record(), NOW)
    assert ctx.session_id == "s1"
    assert ctx.account_id == "acct-1"
    assert ctx.scopes == frozenset({FULL})
    assert ctx.is_account


@pytest.mark.parametrize(
    "stored",
    [
        None,
        record(revoked=True),
        record(subject_type=EXTERNAL_SSO, account_id=None),  # a dfoa_ token naming an SSO session
        record(account_id=None),
    ],
)
def test_unknown_revoked_or_mismatched_tokens_are_unknown_or_revoked(stored: TokenRecord | None) -> None:
    with pytest.raises(RequestError) as excinfo:
        authenticate(ACCOUNT_TOKEN, stored, NOW)
    assert refusal(excinfo) == (401, "unauthorized", "token unknown or revoked")


@pytest.mark.parametrize("expires_at_ms", [NOW, NOW - 1, 0])
def test_an_expired_session_is_token_expired(expires_at_ms: int) -> None:
    with pytest.raises(RequestError) as excinfo:
        authenticate(ACCOUNT_TOKEN, record(expires_at_ms=expires_at_ms), NOW)
    assert refusal(excinfo) == (401, "token_expired", "token expired")


def test_a_session_expiring_later_is_live() -> None:
    assert authenticate(ACCOUNT_TOKEN, record(expires_at_ms=NOW + 1), NOW).session_id == "s1"


def test_an_sso_token_authenticates_but_no_read_route_takes_it() -> None:
    sso = record(subject_type=EXTERNAL_SSO, account_id=None, account_status=None, subject_email="x@y")
    ctx = authenticate(SSO_TOKEN, sso, NOW)
    assert ctx.scopes == scopes_for_token(SSO_TOKEN)
    assert APPS_RUN in ctx.scopes
    with pytest.raises(RequestError) as excinfo:
        require_account_token(ctx)
    assert refusal(excinfo) == (403, "forbidden", "unsupported_token_type")


def test_a_token_whose_account_is_unknown_is_account_not_found() -> None:
    with pytest.raises(RequestError) as excinfo:
        require_account(context(account_status=None))
    assert refusal(excinfo) == (401, "unauthorized", "account not found")
    require_account(context(account_status="banned"))  # any existing account passes here


def test_full_satisfies_every_scope_and_others_only_themselves() -> None:
    require_scope(context(), APPS_READ)
    require_scope(context(), WORKSPACE_READ)
    sso = authenticate(SSO_TOKEN, record(subject_type=EXTERNAL_SSO, account_id=None), NOW)
    with pytest.raises(RequestError) as excinfo:
        require_scope(sso, APPS_READ)
    assert refusal(excinfo) == (403, "forbidden", "insufficient_scope")


# --- a per-app route ---------------------------------------------------------------------


def app(**changes: object) -> AppFacts:
    base: dict[str, object] = {
        "workspace_id": WS,
        "api_enabled": True,
        "workspace_status": "normal",
        "role": "owner",
    }
    base.update(changes)
    return AppFacts(**base)  # type: ignore[arg-type]


def test_a_member_reads_an_app_of_its_workspace() -> None:
    assert authorize_app(context(), app(), None, APPS_READ) == WS
    assert authorize_app(context(), app(), WS, APPS_READ) == WS


@pytest.mark.parametrize(
    ("ctx", "facts", "requested", "expected"),
    [
        # Dify's order: the app, its workspace, the account, the service API, the scope,
        # the membership, then the workspace the request names.
        (context(), app(workspace_id=None), None, (404, "not_found", "app not found")),
        (context(), app(workspace_status="archive"), None, (403, "forbidden", "workspace unavailable")),
        (context(), app(workspace_status=None), None, (403, "forbidden", "workspace unavailable")),
        (context(account_status=None), app(), None, (401, "unauthorized", "account not found")),
        (context(), app(api_enabled=False, role=None), None, (403, "forbidden", "service_api_disabled")),
        (context(), app(role=None), None, (404, "not_found", "workspace not found")),
        (context(account_status="banned"), app(), None, (404, "not_found", "workspace not found")),
        (
            context(),
            app(),
            "0dd5cb9e-d247-4633-a4ee-644e499dbba4",
            (422, "invalid_param", "workspace_id does not match app's workspace"),
        ),
        # compared as given: the upper-case spelling of the right id is a mismatch too
        (context(), app(), WS.upper(), (422, "invalid_param", "workspace_id does not match app's workspace")),
    ],
)
def test_per_app_refusals_come_in_difys_order(
    ctx: AuthContext, facts: AppFacts, requested: str | None, expected: tuple[int, str, str]
) -> None:
    with pytest.raises(RequestError) as excinfo:
        authorize_app(ctx, facts, requested, APPS_READ)
    assert refusal(excinfo) == expected


# --- a route in a named workspace --------------------------------------------------------


@pytest.mark.parametrize(
    ("ctx", "facts", "expected"),
    [
        (context(), WorkspaceFacts(status=None, role=None), (404, "not_found", "workspace not found")),
        (
            context(),
            WorkspaceFacts(status="archive", role="owner"),
            (404, "not_found", "workspace not found"),
        ),
        (
            context(account_status=None),
            WorkspaceFacts("normal", "owner"),
            (401, "unauthorized", "account not found"),
        ),
        (context(), WorkspaceFacts("normal", None), (404, "not_found", "workspace not found")),
        (
            context(account_status="closed"),
            WorkspaceFacts("normal", "owner"),
            (404, "not_found", "workspace not found"),
        ),
    ],
)
def test_workspace_refusals(ctx: AuthContext, facts: WorkspaceFacts, expected: tuple[int, str, str]) -> None:
    with pytest.raises(RequestError) as excinfo:
        authorize_workspace(ctx, facts, APPS_READ)
    assert refusal(excinfo) == expected


@pytest.mark.parametrize("role", ["owner", "admin", "editor", "normal", "dataset_operator"])
def test_any_role_of_an_active_member_passes(role: str) -> None:
    assert authorize_workspace(context(), WorkspaceFacts("normal", role), APPS_READ) == role


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (WS, WS),
        (WS.upper(), WS),
        ("{" + WS + "}", WS),
        (WS.replace("-", ""), WS),
        ("urn:uuid:" + WS, WS),
        ("not-a-uuid", None),
        ("", None),
        (WS + "0", None),
    ],
)
def test_uuids_are_read_as_pythons_parser_reads_them(text: str, canonical: str | None) -> None:
    assert canonical_uuid(text) == canonical
