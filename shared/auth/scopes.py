"""Scopes: what a bearer token may do, decided by its prefix."""

from __future__ import annotations

FULL = "full"
APPS_READ = "apps:read"
APPS_RUN = "apps:run"

ACCOUNT_PREFIX = "dfoa_"
EXTERNAL_SSO_PREFIX = "dfoe_"

PREFIX_SCOPES: dict[str, frozenset[str]] = {
    ACCOUNT_PREFIX: frozenset({FULL}),
    EXTERNAL_SSO_PREFIX: frozenset({APPS_RUN}),
}


def scopes_for_token(token: str) -> frozenset[str] | None:
    """The scopes a token's prefix grants, or None for a prefix this service does not know."""
    for prefix, scopes in PREFIX_SCOPES.items():
        if token.startswith(prefix):
            return scopes
    return None


def satisfies(granted: frozenset[str], needed: str) -> bool:
    """`full` satisfies any scope; otherwise the scope itself must be granted."""
    return FULL in granted or needed in granted
