"""The writer's Lua scripts, read from this package."""

from __future__ import annotations

from importlib import resources


def lua_script(name: str) -> str:
    """A script of this package; those that apply operations get `ops.lua` put in front."""
    folder = resources.files("projector.writer")
    body = folder.joinpath(name).read_text()
    return folder.joinpath("ops.lua").read_text() + body if "apply_ops(" in body else body
