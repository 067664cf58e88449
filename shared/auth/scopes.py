"""Token kinds and scopes: what a bearer token is and may do, decided by its prefix."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth.subjects import ACCOUNT, EXTERNAL_SSO

FULL = "full"
APPS_READ = "apps:read"
APPS_RUN = "apps:run"
APPS_READ_PERMITTED_EXTERNAL = "apps:read:permitted-external"
WORKSPACE_READ = "workspace:read"

ACCOUNT_PREFIX = "dfoa_"
EXTERNAL_SSO_PREFIX = "dfoe_"


@dataclass(frozen=True, slots=True)
class TokenKind:
    """A token prefix, the subject type its sessions have and the scopes it grants."""

    prefix: str
    subject_type: str
    scopes: frozenset[str]


TOKEN_KINDS = (
    TokenKind(ACCOUNT_PREFIX, ACCOUNT, frozenset({FULL})),
    TokenKind(EXTERNAL_SSO_PREFIX, EXTERNAL_SSO, frozenset({APPS_RUN, APPS_READ_PERMITTED_EXTERNAL})),
)


def token_kind(token: str) -> TokenKind | None:
    """The kind of token a prefix names, or None for a prefix this service does not know."""
    for kind in TOKEN_KINDS:
        if token.startswith(kind.prefix):
            return kind
    return None


def scopes_for_token(token: str) -> frozenset[str] | None:
    """The scopes a token's prefix grants, or None for a prefix this service does not know."""
    kind = token_kind(token)
    return None if kind is None else kind.scopes


def satisfies(granted: frozenset[str], needed: str) -> bool:
    """`full` satisfies any scope; otherwise the scope itself must be granted."""
    return FULL in granted or needed in granted
