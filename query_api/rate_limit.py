"""Dify's rate limits on /openapi/v1, spent the way Dify spends them.

Two budgets, each a sliding window of a minute in a Redis sorted set (`lua/spend.lua`):

- every bearer token's, spent once its prefix is recognised and before it is looked up (an
  unknown token of a known prefix spends one too); a refusal is a 429 with Retry-After;
- each account's on GET /account, spent once the guard has let the caller through; a
  refusal is a 429 `rate_limited` without Retry-After, as Dify answers it.

The buckets live in the read model's Redis, where the token's is spent inside the read
script (no round trip of its own), or, with `READMODEL_RATE_LIMIT_REDIS_URL`, in Dify's own
Redis under Dify's key names, so a token has one budget whichever side serves it.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions

from query_api.repository import ReadModelUnavailableError
from shared.auth.errors import ACCOUNT_BUDGET_SPENT, TOKEN_BUDGET_SPENT, TooManyRequests
from shared.readmodel import keys
from shared.readmodel.read_scripts import RATE_WINDOW_SECONDS, spend_script
from shared.readmodel.reads import counted_member
from shared.settings import RateLimits


def dify_token_bucket(token_hash: str, key_prefix: str = "") -> str:
    """Dify's bucket of a token: its limiter's prefix and `token:<sha256>`, behind its
    REDIS_KEY_PREFIX when one is set."""
    return _prefixed(key_prefix, f"rl:token_id:token:{token_hash}")


def dify_account_bucket(account_id: str, key_prefix: str = "") -> str:
    """Dify's bucket of an account's GET /account requests."""
    return _prefixed(key_prefix, f"rl:account:account:{account_id}")


class Buckets:
    """Sliding-window buckets on one Redis (or Cluster): one script call spends from one."""

    def __init__(self, redis: Any) -> None:
        self._spend = redis.register_script(spend_script())

    def spend(self, bucket: str, budget: int, now_s: int) -> int:
        """0 when the request is counted, else the seconds until the budget has room."""
        try:
            member = counted_member(now_s)
            waited = self._spend(keys=[bucket], args=[budget, RATE_WINDOW_SECONDS, now_s, member])
        except redis.exceptions.RedisError as exc:
            raise ReadModelUnavailableError(f"the rate limit's Redis could not be reached: {exc}") from exc
        return int(waited)


class RateLimiter:
    """The spending the API does around its read: the token's budget when it lives in Dify's
    Redis (otherwise the read script spends it), and the account's on GET /account."""

    def __init__(self, limits: RateLimits, buckets: Buckets) -> None:
        self._limits = limits
        self._buckets = buckets
        self._shared = limits.redis_url is not None

    @property
    def token_budget_in_read(self) -> int:
        """The per-token budget the read script spends (0: it spends none)."""
        return 0 if self._shared else self._limits.per_token

    def spend_token(self, token_hash: str, now_ms: int) -> None:
        """Before the token is looked up; a 429 once its budget is spent."""
        budget = self._limits.per_token
        if not (self._shared and budget > 0):
            return
        now_s = now_ms // 1000
        waited = self._buckets.spend(dify_token_bucket(token_hash, self._limits.key_prefix), budget, now_s)
        if waited:
            raise TooManyRequests(TOKEN_BUDGET_SPENT, retry_after=waited)

    def spend_account(self, account_id: str, now_ms: int) -> None:
        """After the guard let an account through to GET /account."""
        budget = self._limits.per_account
        if budget <= 0:
            return
        bucket = (
            dify_account_bucket(account_id, self._limits.key_prefix)
            if self._shared
            else keys.account_budget(account_id)
        )
        if self._buckets.spend(bucket, budget, now_ms // 1000):
            raise TooManyRequests(ACCOUNT_BUDGET_SPENT)


def _prefixed(key_prefix: str, name: str) -> str:
    return f"{key_prefix}:{name}" if key_prefix else name
