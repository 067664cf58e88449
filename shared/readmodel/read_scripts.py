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


def read_script(name: str, *, prelude: str = ONE_REDIS) -> str:
    folder = resources.files("shared.readmodel").joinpath("lua")
    return folder.joinpath(prelude).read_text() + folder.joinpath(name).read_text()
