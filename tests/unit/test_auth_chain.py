"""The auth chain as plain functions: each step's refusals, in the contract's words."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from shared.auth import (
    ACCEPT_ACCOUNT,
    ACCOUNT,
    APPS_READ,
    APPS_RUN,
    EXTERNAL_SSO,
    FULL,
    AuthContext,
    TokenRecord,
    account_or_404,
    bearer_token,
    require_scope,
    require_workspace_member,
    scopes_for_token,
    token_digest,
    validate_bearer,
)
from shared.auth.errors import Forbidden, NotFound, RequestError, TokenExpired, Unauthorized

NOW = 1_777_000_000_000
ACCOUNT_TOKEN = "dfoa_" + "a" * 32
SSO_TOKEN = "dfoe_" + "b" * 32


@dataclass
class Lookup:
    """The read model as a pair of dicts."""

    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    roles: dict[tuple[str, str], str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def token(self, token_hash: str) -> TokenRecord | None:
        self.asked.append(token_hash)
        return self.tokens.get(token_hash)

    def role(self, account_id: str, workspace_id: str) -> str | None:
        return self.roles.get((account_id, workspace_id))


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


def lookup_with(token: str, rec: TokenRecord) -> Lookup:
    return Lookup(tokens={token_digest(token): rec})


def refusal(excinfo: pytest.ExceptionInfo[RequestError]) -> tuple[int, str, str]:
    error = excinfo.value
    return error.status, error.code, error.message


# --- step 1: validate_bearer --------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        f"Token {ACCOUNT_TOKEN}",
        f"Bearer {ACCOUNT_TOKEN} extra",
        "dfoa_x",
    ],
)
def test_a_missing_or_malformed_header_is_missing_bearer_token(header: str | None) -> None:
    lookup = lookup_with(ACCOUNT_TOKEN, record())
    with pytest.raises(Unauthorized) as excinfo:
        validate_bearer(header, lookup, NOW)
    assert refusal(excinfo) == (401, "unauthorized", "missing bearer token")
    assert excinfo.value.headers == {"WWW-Authenticate": 'Bearer realm="api"'}
    assert lookup.asked == []  # nothing to look up


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    ctx = validate_bearer(f"{scheme} {ACCOUNT_TOKEN}", lookup_with(ACCOUNT_TOKEN, record()), NOW)
    assert ctx.session_id == "s1"


def test_surrounding_whitespace_does_not_make_extra_words() -> None:
    ctx = validate_bearer(f"  Bearer   {ACCOUNT_TOKEN}  ", lookup_with(ACCOUNT_TOKEN, record()), NOW)
    assert ctx.account_id == "acct-1"


@pytest.mark.parametrize("token", ["dfob_abc", "abc", "DFOA_abc", "app-abc"])
def test_an_unknown_prefix_is_refused_before_any_look_up(token: str) -> None:
    lookup = Lookup()
    with pytest.raises(Unauthorized) as excinfo:
        validate_bearer(f"Bearer {token}", lookup, NOW)
    assert refusal(excinfo) == (401, "unauthorized", "unknown token prefix")
    assert lookup.asked == []


def test_the_look_up_is_by_sha256_of_the_whole_token() -> None:
    lookup = Lookup()
    with pytest.raises(Unauthorized):
        validate_bearer(f"Bearer {ACCOUNT_TOKEN}", lookup, NOW)
    assert lookup.asked == [hashlib.sha256(ACCOUNT_TOKEN.encode()).hexdigest()]


def test_an_unknown_token_is_unknown_or_revoked() -> None:
    with pytest.raises(Unauthorized) as excinfo:
        validate_bearer(f"Bearer {ACCOUNT_TOKEN}", Lookup(), NOW)
    assert refusal(excinfo) == (401, "unauthorized", "token unknown or revoked")


def test_a_revoked_token_is_unknown_or_revoked_even_when_also_expired() -> None:
    lookup = lookup_with(ACCOUNT_TOKEN, record(revoked=True, expires_at_ms=NOW - 1))
    with pytest.raises(Unauthorized) as excinfo:
        validate_bearer(f"Bearer {ACCOUNT_TOKEN}", lookup, NOW)
    assert refusal(excinfo) == (401, "unauthorized", "token unknown or revoked")


@pytest.mark.parametrize("expires_at_ms", [NOW, NOW - 1, 0])
def test_a_token_whose_expiry_has_come_is_token_expired(expires_at_ms: int) -> None:
    lookup = lookup_with(ACCOUNT_TOKEN, record(expires_at_ms=expires_at_ms))
    with pytest.raises(TokenExpired) as excinfo:
        validate_bearer(f"Bearer {ACCOUNT_TOKEN}", lookup, NOW)
    assert refusal(excinfo) == (401, "token_expired", "token expired")
    assert excinfo.value.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_token_expiring_after_now_passes() -> None:
    ctx = validate_bearer(
        f"Bearer {ACCOUNT_TOKEN}", lookup_with(ACCOUNT_TOKEN, record(expires_at_ms=NOW + 1)), NOW
    )
    assert ctx.scopes == frozenset({FULL})


def test_both_subject_types_pass_step_one() -> None:
    sso = record(subject_type=EXTERNAL_SSO, account_id=None, account_status=None, subject_email="e@x")
    ctx = validate_bearer(f"Bearer {SSO_TOKEN}", lookup_with(SSO_TOKEN, sso), NOW)
    assert (ctx.subject_type, ctx.account_id, ctx.subject_email) == (EXTERNAL_SSO, None, "e@x")
    assert ctx.scopes == frozenset({APPS_RUN})


def test_a_narrower_accept_refuses_the_other_subject_type() -> None:
    sso = record(subject_type=EXTERNAL_SSO, account_id=None)
    with pytest.raises(Unauthorized):
        validate_bearer(f"Bearer {SSO_TOKEN}", lookup_with(SSO_TOKEN, sso), NOW, accept=ACCEPT_ACCOUNT)


def test_bearer_token_returns_the_single_word() -> None:
    assert bearer_token(f"Bearer {ACCOUNT_TOKEN}") == ACCOUNT_TOKEN


def test_a_token_that_is_not_valid_unicode_text_is_just_unknown() -> None:
    with pytest.raises(Unauthorized) as excinfo:
        validate_bearer("Bearer dfoa_\udcff\ud800", Lookup(), NOW)
    assert excinfo.value.message == "token unknown or revoked"


# --- step 2: scopes -----------------------------------------------------------------------


def context(**changes: object) -> AuthContext:
    base: dict[str, object] = {
        "session_id": "s1",
        "subject_type": ACCOUNT,
        "account_id": "acct-1",
        "subject_email": None,
        "subject_issuer": None,
        "scopes": frozenset({FULL}),
        "account_status": "active",
    }
    base.update(changes)
    return AuthContext(**base)  # type: ignore[arg-type]


def test_prefixes_grant_their_scopes() -> None:
    assert scopes_for_token("dfoa_x") == frozenset({FULL})
    assert scopes_for_token("dfoe_x") == frozenset({APPS_RUN})
    assert scopes_for_token("dfox_x") is None


def test_full_satisfies_any_scope() -> None:
    require_scope(context(), APPS_READ)
    require_scope(context(), "anything:else")


def test_apps_run_does_not_give_apps_read() -> None:
    with pytest.raises(Forbidden) as excinfo:
        require_scope(context(scopes=frozenset({APPS_RUN})), APPS_READ)
    assert refusal(excinfo) == (403, "forbidden", "insufficient_scope: apps:read")


def test_a_granted_scope_satisfies_itself() -> None:
    require_scope(context(scopes=frozenset({APPS_READ})), APPS_READ)


# --- step 3: account_or_404 ---------------------------------------------------------------


def test_an_account_subject_yields_its_account_id() -> None:
    assert account_or_404(context()) == "acct-1"


def test_an_sso_subject_cannot_tell_an_app_exists() -> None:
    with pytest.raises(NotFound) as excinfo:
        account_or_404(context(subject_type=EXTERNAL_SSO, account_id=None))
    assert refusal(excinfo) == (404, "not_found", "app not found")


# --- step 4: require_workspace_member -----------------------------------------------------


def test_an_active_member_with_any_role_passes() -> None:
    for role in ("owner", "admin", "editor", "normal", "dataset_operator"):
        lookup = Lookup(roles={("acct-1", "ws-1"): role})
        assert require_workspace_member(context(), "ws-1", lookup) == role


def test_a_member_of_another_workspace_is_refused() -> None:
    lookup = Lookup(roles={("acct-1", "ws-2"): "owner"})
    with pytest.raises(Forbidden) as excinfo:
        require_workspace_member(context(), "ws-1", lookup)
    assert refusal(excinfo) == (403, "forbidden", "workspace_membership_revoked")


@pytest.mark.parametrize("status", ["pending", "uninitialized", "banned", "closed", None])
def test_an_inactive_account_is_refused_despite_its_membership(status: str | None) -> None:
    lookup = Lookup(roles={("acct-1", "ws-1"): "owner"})
    with pytest.raises(Forbidden) as excinfo:
        require_workspace_member(context(account_status=status), "ws-1", lookup)
    assert excinfo.value.message == "workspace_membership_revoked"


def test_error_bodies_carry_code_message_status() -> None:
    assert Unauthorized("missing bearer token").body() == {
        "code": "unauthorized",
        "message": "missing bearer token",
        "status": 401,
    }
