"""The Lua the read scripts are generated with says what the Python it comes from says: key
names (keys.py), reply positions and the replies of a caller who gets no data."""

from __future__ import annotations

import inspect
import re
from importlib import resources
from typing import Any

import pytest

from shared.readmodel.read_scripts import LAYOUTS, SCRIPTS, read_script
from shared.readmodel.reads import NOT_SPENDING
from shared.readmodel.script_layouts import (
    LUA_KEY_BUILDERS,
    LUA_KEY_CONSTANTS,
    HeadReply,
    expand,
    nothing,
)

# Arguments as the scripts pass them: ids (a token's SHA-256, UUIDs), a mode, a tag.
SAMPLES = ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "0b5f-ws", "chat")


@pytest.mark.parametrize("name", sorted(LUA_KEY_BUILDERS))
def test_every_key_builder_written_out_names_the_key_keys_py_names(name: str, fake_redis: Any) -> None:
    build = LUA_KEY_BUILDERS[name]
    arity = len(inspect.signature(build).parameters)
    arguments = SAMPLES[:arity]
    # As the scripts call them: with variables, and with expressions.
    plain = ", ".join(f"ARGV[{n + 1}]" for n in range(arity))
    assert fake_redis.eval(expand(f"return K.{name}({plain})"), 0, *arguments).decode() == build(*arguments)
    wrapped = ", ".join(f"string.sub(ARGV[{n + 1}] .. 'x', 1, -2)" for n in range(arity))
    assert fake_redis.eval(expand(f"return K.{name}({wrapped})"), 0, *arguments).decode() == build(*arguments)


def test_the_constants_the_scripts_read_are_keys_py_s(fake_redis: Any) -> None:
    names = sorted(LUA_KEY_CONSTANTS)
    lua = expand("return {" + ", ".join(f"K.{name}" for name in names) + "}")
    values = [value.decode() for value in fake_redis.eval(lua, 0)]
    assert values == [LUA_KEY_CONSTANTS[name] for name in names]


def test_no_script_spells_a_key_name_or_a_position_itself() -> None:
    # A key is built with K. (from keys.py) or passed in by the API, never written out; a
    # reply position is named (R. or H.), never a number.
    spelled = re.compile(r"""['"](rm|ws|app|acct|sess|sso|tok|st|rl):|\{meta\}|(reply|head)\[\d""")
    folder = resources.files("shared.readmodel").joinpath("lua")
    for script in folder.iterdir():
        if script.name.endswith(".lua"):
            assert not spelled.search(script.read_text()), script.name


def test_a_declaration_that_does_not_exist_is_refused() -> None:
    for source in ("K.nothing_like_it('a')", "return R.ROLE", "return H.NOPE", "K.workspace('a', 'b')"):
        with pytest.raises((ValueError, KeyError)):
            expand(source)


@pytest.mark.parametrize("name", SCRIPTS)
def test_reply_positions_written_out_are_the_layout_s(name: str, fake_redis: Any) -> None:
    layout = LAYOUTS[name]
    lua = expand("return {" + ", ".join(f"R.{field}" for field, _ in layout.fields) + "}", layout)
    assert fake_redis.eval(lua, 0) == [value + 1 for _, value in layout.fields]
    lua = expand("return {" + ", ".join(f"H.{field}" for field, _ in HeadReply.fields) + "}")
    assert fake_redis.eval(lua, 0) == [value + 1 for _, value in HeadReply.fields]


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_caller_who_gets_nothing_gets_the_layout_s_defaults(name: str, fake_redis: Any) -> None:
    # No live generation: every script answers its head (nil watermark) and the defaults the
    # cluster reader answers with too.
    routes = {"read_apps.lua": ("ws",) * 8, "read_app.lua": ("app",), "read_members.lua": ("ws", "1")}
    arguments = ("", 0, *NOT_SPENDING, *routes.get(name, ("", "")))
    reply = fake_redis.eval(read_script(name), 0, *arguments)
    assert reply[: len(HeadReply.fields)] == [None] * len(HeadReply.fields)
    assert reply[len(HeadReply.fields) :] == nothing(LAYOUTS[name])
