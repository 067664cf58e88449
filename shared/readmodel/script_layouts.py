"""What the read scripts and the code that reads their replies share, declared once here.

- **Reply layouts.** Every reply opens with the head (`HeadReply`), then the route's own fixed
  fields, then a variable part. Each layout is a class of 0-based positions (plain ints:
  read on every request), read as such in Python; the scripts name them `R.<FIELD>`
  (1-based once written out) and start from a `reply` already holding each fixed field's
  value for a caller who gets no data (`nothing`), which the cluster reader answers with too.
- **Key names.** The scripts build keys as `K.<builder>(…)`, written out at registration
  into the concatenation the builder of `keys.py` makes (`expand`), so a key's name is
  written once, in Python, and costs nothing more at run time than a hand-written one.
- **Token fields**, which the prelude and the cluster reader read into the head.

The scripts name positions `H.<FIELD>` and `R.<FIELD>`; `expand` writes the numbers in.

`tests/unit/test_script_layouts.py` pins the generated Lua to the Python it comes from.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import ClassVar

from shared.readmodel import keys


class Layout:
    """A reply layout: its upper-case int attributes, in order, are positions; the last one
    is where the variable part begins."""

    fields: ClassVar[tuple[tuple[str, int], ...]] = ()

    def __init_subclass__(cls) -> None:
        cls.fields = tuple(
            (name, value) for name, value in vars(cls).items() if name.isupper() and isinstance(value, int)
        )


class HeadReply(Layout):
    """The head of every reply: the watermark read, then the caller's token (TOKEN_FIELDS)."""

    WATERMARK = 0  # false: no live generation
    SESSION = 1
    SUBJECT_TYPE = 2
    ACCOUNT = 3
    EMAIL = 4
    ISSUER = 5
    EXPIRES = 6
    REVOKED = 7
    ACCOUNT_STATUS = 8  # an account token's account status, kept current by the projector


# The token hash's fields, in the head's order from Head.SESSION on.
TOKEN_FIELDS = ("sid", "st", "acct", "email", "iss", "exp", "rev", "as")


class AppsReply(Layout):
    """GET /apps: the caller's role, the total, the workspace's status, whether the tag
    filter names a tag some listed app has; for a page, the workspace's row tail, the
    number of rows, then (ROWS) the stored rows and (author id, JSON name) pairs."""

    ROLE = 9
    TOTAL = 10
    STATUS = 11
    TAG_KNOWN = 12
    TAIL = 13
    ROW_COUNT = 14
    ROWS = 15  # the variable part


class AppReply(Layout):
    """The per-app routes: the app's workspace (of a visible app), the caller's role there,
    the service API ('1'/'0'), the workspace's status, then (FIELDS) the fields asked and,
    with the summary or info among them, their shared start and their author's name."""

    WORKSPACE = 9
    ROLE = 10
    API = 11
    STATUS = 12
    FIELDS = 13  # the variable part


class AccountReply(Layout):
    """/account and /workspaces[/{id}]: the profile, the current-workspace candidate and its
    position, then (MEMBERSHIPS) per membership: workspace id, membership JSON, the
    workspace's name, status and creation time."""

    NAME = 9
    EMAIL = 10
    CURRENT = 11
    CURRENT_POSITION = 12
    MEMBERSHIPS = 13  # the variable part


class SessionsReply(Layout):
    """/account/sessions: the total of live sessions, then (ROWS) the page's rows."""

    TOTAL = 9
    ROWS = 10  # the variable part


class MembersReply(Layout):
    """/workspaces/{id}/members: the workspace's status, the caller's role, then (MEMBERS)
    per member: account id, role, name, email, status, avatar."""

    STATUS = 9
    ROLE = 10
    MEMBERS = 11  # the variable part


# Fields whose value for a caller who gets no data is 0; the others' is nil (false in Lua).
_ZERO = {(AppsReply, "TOTAL"), (AppsReply, "ROW_COUNT"), (SessionsReply, "TOTAL")}


def nothing(layout: type[Layout]) -> list[object]:
    """The fixed fields after the head, as a caller who gets no data receives them."""
    return [0 if (layout, name) in _ZERO else None for name, _ in layout.fields[:-1]]


def lua_reply(layout: type[Layout]) -> str:
    """`reply`: the head, then each fixed field of `layout` as a caller who gets no data
    receives it (false, never nil: nil cuts a reply short)."""
    lines = ["local reply = head"]
    for name, value in layout.fields[:-1]:
        lines.append(f"reply[{value + 1}] = {'0' if (layout, name) in _ZERO else 'false'}  -- R.{name}")
    return "\n".join(lines) + "\n"


def lua_head() -> str:
    """An empty `head`, for the preludes to fill."""
    return "local head = {" + ", ".join("false" for _ in HeadReply.fields) + "}\n"


# --- writing the declarations out --------------------------------------------------------

# The key builders the read scripts use, by the name they have after `K.`.
LUA_KEY_BUILDERS: Mapping[str, Callable[..., str]] = {
    "full_key": keys.full_key,
    "token": keys.token,
    "app_workspace": keys.app_workspace,
    "app": keys.app,
    "workspace": keys.workspace,
    "workspace_members": keys.workspace_members,
    "app_index": keys.app_index,
    "mode_index": keys.mode_index,
    "tag_index": keys.tag_index,
    "app_names": keys.app_names,
    "app_rows": keys.app_rows,
    "app_authors": keys.app_authors,
    "account": keys.account,
    "account_workspaces": keys.account_workspaces,
    "account_current": keys.account_current,
    "account_sessions": keys.account_sessions,
    "session_rows": keys.session_rows,
    "session_expiries": keys.session_expiries,
}
LUA_KEY_CONSTANTS = {"LIVE_POINTER": keys.LIVE_POINTER, "WATERMARK": keys.WATERMARK}
_SLOT = re.compile(r"\x00(\d+)(b?)\x00")
_CALL = re.compile(r"\bK\.([a-z_]+)\(")
_CONSTANT = re.compile(r"\bK\.([A-Z_]+)\b")
_POSITION = re.compile(r"\b([RH])\.([A-Z_]+)\b")
_SIMPLE = re.compile(r"^[A-Za-z_]\w*(\[[^\[\]]+\])?$")


def expand(source: str, layout: type[Layout] | None = None) -> str:
    """`source` with the declarations written out, so a script costs nothing for them at
    run time: `K.<builder>(a, b)` becomes the key's concatenation as keys.py builds it,
    `K.<CONSTANT>` its string, `H.<FIELD>` and `R.<FIELD>` (of `layout`) their 1-based
    positions, `unpack(TOKEN_FIELDS)` the token's fields and `#TOKEN_FIELDS` their number."""
    text = _expand_calls(source)
    text = _CONSTANT.sub(lambda match: _lua_string(LUA_KEY_CONSTANTS[match.group(1)]), text)
    text = _POSITION.sub(lambda match: str(_position(match.group(1), match.group(2), layout)), text)
    text = text.replace("unpack(TOKEN_FIELDS)", ", ".join(_lua_string(name) for name in TOKEN_FIELDS))
    text = text.replace("#TOKEN_FIELDS", str(len(TOKEN_FIELDS)))
    if leftover := re.search(r"\b[KRH]\.\w+|TOKEN_FIELDS", text):
        raise ValueError(f"a declaration the read scripts cannot use: {leftover.group(0)}")
    return text


def _position(table: str, name: str, layout: type[Layout] | None) -> int:
    owner = HeadReply if table == "H" else layout
    if owner is None:
        raise ValueError(f"R.{name} outside a route's script")
    positions = dict(owner.fields)
    if name not in positions:
        raise ValueError(f"{owner.__name__} has no field {name}")
    return positions[name] + 1


def _expand_calls(text: str) -> str:
    while match := _CALL.search(text):
        name = match.group(1)
        close = _closing_parenthesis(text, match.end())
        inside = text[match.end() : close]
        arguments = [_expand_calls(argument.strip()) for argument in _split_arguments(inside)]
        build = LUA_KEY_BUILDERS[name]
        if len(arguments) != len(inspect.signature(build).parameters):
            raise ValueError(f"K.{name} takes {len(inspect.signature(build).parameters)} arguments")
        template = build(*(_Parameter(n) for n in range(len(arguments))))
        text = text[: match.start()] + _concatenation(template, arguments) + text[close + 1 :]
    return text


def _closing_parenthesis(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced call in {text[start - 20 : start + 20]!r}")


def _split_arguments(text: str) -> list[str]:
    arguments, depth, start = [], 0, 0
    for i, character in enumerate(text):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            arguments.append(text[start:i])
            start = i + 1
    arguments.append(text[start:])
    return [argument for argument in arguments if argument.strip()]


class _Parameter(str):
    """A builder's argument stand-in: its text marks where the argument goes, and the
    slice `keys.bucket` takes of it marks a bucket of it."""

    number: int

    def __new__(cls, number: int) -> _Parameter:
        marked = super().__new__(cls, f"\x00{number}\x00")
        marked.number = number
        return marked

    def __getitem__(self, item: object) -> str:  # type: ignore[override]
        if item == slice(None, 2, None):
            return f"\x00{self.number}b\x00"
        raise TypeError(f"a key builder may only take [:2] of an argument, not {item!r}")


def _concatenation(template: str, arguments: list[str]) -> str:
    """The Lua concatenation building `template` (a builder's output over _Parameters)."""
    parts: list[str] = []
    pieces = _SLOT.split(template)
    for i in range(0, len(pieces), 3):
        if pieces[i]:
            parts.append(_lua_string(pieces[i]))
        if i + 1 < len(pieces):
            argument = arguments[int(pieces[i + 1])]
            argument = argument if _SIMPLE.match(argument) else f"({argument})"
            parts.append(f"string.sub({argument}, 1, 2)" if pieces[i + 2] else argument)
    return "(" + " .. ".join(parts) + ")"


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
