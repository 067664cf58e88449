"""The writer's Lua scripts: read from this package, and run many at once on a cluster."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

# One script call: the script (as `register_script` returns it), its one key, its ARGV.
ScriptCall = tuple[Any, str, Sequence[Any]]


def lua_script(name: str) -> str:
    """A script of this package; those that apply operations get `ops.lua` put in front."""
    folder = resources.files("projector.writer")
    body = folder.joinpath(name).read_text()
    return folder.joinpath("ops.lua").read_text() + body if "apply_ops(" in body else body


def run_scripts(redis: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run single-key script calls in one pipeline (a cluster client sends each to its key's
    node) and return their answers; a server that forgot a script gets it again, once."""
    if not calls:
        return []
    try:
        return _pipeline(redis, calls)
    except NoScriptError:  # a node restarted (or SCRIPT FLUSH): load them on every master
        for script in {id(call[0]): call[0] for call in calls}.values():
            redis.script_load(script.script)
        return _pipeline(redis, calls)


def _pipeline(redis: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    pipe = redis.pipeline()
    for script, key, args in calls:
        # A raw EVALSHA: redis-py's cluster pipeline blocks its evalsha() helper, but routes
        # this by its first key.
        pipe.execute_command("EVALSHA", script.sha, 1, key, *args)
    return pipe.execute()
