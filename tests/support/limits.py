"""The contract suites run with Dify's rate limits off: its golden answers were recorded so."""

from __future__ import annotations

UNLIMITED = {"OPENAPI_RATE_LIMIT_PER_TOKEN": "0", "READMODEL_ACCOUNT_RATE_LIMIT_PER_MINUTE": "0"}
