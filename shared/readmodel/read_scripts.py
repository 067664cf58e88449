"""The read scripts by route: generated declarations, a prelude (who is asking, which
generation) and the route's body.

A script is, in order: an empty head, on one Redis the rate limit's step (`spend.lua`), the
prelude, the route's `reply` as a caller who gets no data receives it, and the body in
`lua/`; key names and reply positions are written in from script_layouts.py.
"""

from __future__ import annotations

from importlib import resources

from shared.readmodel.script_layouts import (
    AccountReply,
    AppReply,
    AppsReply,
    Layout,
    MembersReply,
    SessionsReply,
    expand,
    lua_head,
    lua_reply,
)

APPS = "read_apps.lua"
APP = "read_app.lua"
ACCOUNT = "read_account.lua"
SESSIONS = "read_sessions.lua"
MEMBERS = "read_members.lua"
LAYOUTS: dict[str, type[Layout]] = {
    APPS: AppsReply,
    APP: AppReply,
    ACCOUNT: AccountReply,
    SESSIONS: SessionsReply,
    MEMBERS: MembersReply,
}
SCRIPTS = tuple(LAYOUTS)
ONE_REDIS = "read_prelude.lua"
CLUSTER = "read_prelude_cluster.lua"
SPEND = "spend.lua"  # the rate limit's step, which the one-Redis prelude takes first
RATE_WINDOW_SECONDS = 60  # both of Dify's rate limits count the last minute


def read_script(name: str, *, prelude: str = ONE_REDIS) -> str:
    """The script of route script `name`, behind the one-Redis or the cluster prelude."""
    spend = _text(SPEND) if prelude == ONE_REDIS else ""
    layout = LAYOUTS[name]
    return expand(lua_head() + spend + _text(prelude) + lua_reply(layout) + _text(name), layout)


def spend_script() -> str:
    """The rate limit's step alone: KEYS[1] the bucket, ARGV budget, window, now (epoch
    seconds) and the member to count; answers 0 or the seconds to wait."""
    return _text(SPEND) + (
        "return spend(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])\n"
    )


def _text(name: str) -> str:
    return resources.files("shared.readmodel").joinpath("lua").joinpath(name).read_text()
