"""The read scripts by route, each a prelude (who is asking, which generation) and a body."""

from __future__ import annotations

from importlib import resources

APPS = "read_apps.lua"
APP = "read_app.lua"
ACCOUNT = "read_account.lua"
SESSIONS = "read_sessions.lua"
MEMBERS = "read_members.lua"
SCRIPTS = (APPS, APP, ACCOUNT, SESSIONS, MEMBERS)
ONE_REDIS = "read_prelude.lua"
CLUSTER = "read_prelude_cluster.lua"
SPEND = "spend.lua"  # the rate limit's step, which the one-Redis prelude takes first
RATE_WINDOW_SECONDS = 60  # both of Dify's rate limits count the last minute


def read_script(name: str, *, prelude: str = ONE_REDIS) -> str:
    before = (SPEND, prelude) if prelude == ONE_REDIS else (prelude,)
    return "".join(_text(part) for part in (*before, name))


def spend_script() -> str:
    """The rate limit's step alone: KEYS[1] the bucket, ARGV budget, window, now (epoch
    seconds) and the member to count; answers 0 or the seconds to wait."""
    return _text(SPEND) + (
        "return spend(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])\n"
    )


def _text(name: str) -> str:
    return resources.files("shared.readmodel").joinpath("lua").joinpath(name).read_text()
