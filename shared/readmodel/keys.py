"""Key names of the read model.

Every key lives under a generation: `rm:<generation>:<suffix>`. The pointer `rm:{meta}:live:v3`
names the live generation; a rebuild writes a new generation beside it and flips the
pointer. Functions here return suffixes; on one Redis the Lua scripts resolve the generation
themselves so a flip is atomic with respect to every read and write.

Every key has exactly one owner, the only one that writes it (`owners.py`): a workspace
(its keys and its apps' documents carry the hash tag `{<workspace_id>}`), an account (its
keys, its sessions and its view of the workspaces it belongs to: `{<account_id>}`) or an
external SSO subject (`{<digest>}`). An owner's keys share its hash tag, so on a Redis
Cluster they live in one slot and one script writes them atomically, the versions that gate
the write included. Keys found by an id alone (tokens, app locators) cannot carry their
owner's tag: they are spread over 256 buckets by the id's first two characters, and each
carries the versions it was written from, so that no writer can move it backwards. The
pointers and each generation's watermark share `{meta}`, so a flip compares watermarks in
one slot.
"""

from __future__ import annotations

import hashlib

PREFIX = "rm:"
# The pointers of this layout. Those of the layouts before it name generations a rebuild
# deletes (`LEGACY_POINTERS`): their keys mean something else.
LIVE_POINTER = "rm:{meta}:live:v3"
REPLAY_POINTER = "rm:{meta}:replay:v3"  # the generation a rebuild is writing, with its checkpoint
RETIRED = "rm:{meta}:retired"  # set: old generations a flip left to delete (a stop cut it short)
# The first layout's pointer (keys without hash tags), the second's (one stream state per
# stream, documents written by several partitions) and the third's (states as JSON objects in
# keys of their own, an app's published configuration in its state as well as in its
# documents, a hash per session); their rebuild checkpoint pointers.
LEGACY_POINTERS = (
    "rm:live",
    "rm:{meta}:live",
    "rm:{meta}:replay",
    "rm:{meta}:live:v2",
    "rm:{meta}:replay:v2",
)


def full_key(generation: str, suffix: str) -> str:
    return f"{PREFIX}{generation}:{suffix}"


def generation_pattern(generation: str) -> str:
    """A SCAN pattern matching every key of one generation."""
    escaped = generation.replace("*", r"\*").replace("?", r"\?").replace("[", r"\[")
    return f"{PREFIX}{escaped}:*"


# --- generation-wide ---------------------------------------------------------------------

# The highest store position settled. The one key every writer raises (to a maximum, so the
# order of writers does not matter); no record derives from it.
WATERMARK = "{meta}:wm"
HEAL_RECORD = "rm:{meta}:healed"  # hash: what the last self-heal found, when, into which generation
HEAL_LOCK = "rm:{meta}:healing"  # held by the one process rebuilding after a loss
POISON = "{meta}:poison"  # hash: position -> reason, events a rebuild could not apply (rebuild only)


# --- per owner: the folded state of each stream it holds, and its version ----------------


def stream_state(owner_id: str, stream: str) -> str:
    """Hash {v: "<version> <folded state>"} of `stream` as held by the owner `owner_id`.

    The version opening `v` gates every write of the owner's records: a batch applies only
    if the versions it read are still there. An owner holds its own streams, and copies of other streams it
    shows facts of (a workspace its apps' authors, an account its memberships).

    An app's state lives in the app's own hash (`app`), beside its documents: one key per
    app instead of two, and its published configuration is the `params` document there, not
    a second copy (projector/fold/state.py). `stream_state(W, "app:")` is the prefix of them all.
    """
    if stream.startswith("app:"):
        return f"app:{{{owner_id}}}:{stream[4:]}"
    return f"st:{{{owner_id}}}:{stream}"


def app_row(owner_id: str, stream: str) -> tuple[str, str] | None:
    """The hash and field of the list row of an app stream held by `owner_id` (None for
    other streams): a visible app's state reads its shown facts back from it."""
    if not stream.startswith("app:"):
        return None
    return app_rows(owner_id), stream[4:]


def is_stream_state(suffix: str) -> bool:
    """Whether a key suffix holds a stream's version and state (an app's hash does too)."""
    return suffix.startswith("st:") or (suffix.startswith("app:") and owner_tag(suffix) is not None)


# The fields of a stream state's hash the writer reads: its version and folded state, and
# (an app's) the documents the state shares its facts with instead of keeping them twice;
# an app's row (`app_rows`) is read with them.
STATE_FIELDS = ("v", "params", "api")


# --- workspaces (owner: the workspace) ---------------------------------------------------


def workspace(workspace_id: str) -> str:
    """Hash {name, status, created, tail}: `tail` closes a list row, from `,"workspace_id"` on."""
    return f"ws:{{{workspace_id}}}"


def workspace_members(workspace_id: str) -> str:
    """Hash account_id -> role."""
    return f"ws:{{{workspace_id}}}:members"


def app_index(workspace_id: str) -> str:
    """Sorted set of visible app ids, score = created_at in µs; ties order by id."""
    return f"ws:{{{workspace_id}}}:idx"


def mode_index(workspace_id: str, mode: str) -> str:
    return f"ws:{{{workspace_id}}}:idx:mode:{mode}"


def tag_index(workspace_id: str, tag: str) -> str:
    return f"ws:{{{workspace_id}}}:idx:tag:{tag}"


def app_names(workspace_id: str) -> str:
    """Hash app_id -> lower-cased name of the listed apps, for the `name` filter."""
    return f"ws:{{{workspace_id}}}:names"


def app_rows(workspace_id: str) -> str:
    """Hash app_id -> the app's list row up to its author's name, after the author's id.

    A row is `<author id (36)>` + `{"id":…,"created_by_name":` ; the read script completes it
    with the author's name (`app_authors`) and the workspace's `tail`, so neither a rename of
    the author nor of the workspace rewrites a row. Every visible app has one, listed or not:
    its summary and describe's info are cut from it (`documents.summary_from_row`).
    """
    return f"ws:{{{workspace_id}}}:rows"


def app_authors(workspace_id: str) -> str:
    """Hash account_id -> the JSON name of each account that created an app of the workspace:
    the workspace's own copy, kept current from the account's events."""
    return f"ws:{{{workspace_id}}}:authors"


# --- apps (owner: their workspace) -------------------------------------------------------


def app(workspace_id: str, app_id: str) -> str:
    """Hash of one app's stream state and, while it is visible, its pre-serialised documents,
    in its workspace's slot.

    Fields: v (the stream state: `stream_state`); api ("1"/"0", there only while the
    app is visible; the summary and info are cut from the app's row by the API), params
    (parameters minus system_parameters: kept while the app is not deleted, visible or not,
    as it is also its state's published configuration; absent with none published), schema
    (describe input_schema; absent with nothing published: the API answers Dify's empty
    schema). Reads serve nothing of an app without `api`.
    """
    return f"app:{{{workspace_id}}}:{app_id}"


def app_workspace(app_id: str) -> str:
    """Hash {ws, v} of an app: where GET /apps/{id} finds a visible app's workspace (`ws`,
    absent while the app is not visible), and the app stream version it was written from."""
    return f"app:{{{bucket(app_id)}}}:{app_id}"


# --- accounts (owner: the account) -------------------------------------------------------


def account(account_id: str) -> str:
    """Hash {name, email, status, avatar (only when the account has one)}."""
    return f"acct:{{{account_id}}}"


def account_workspaces(account_id: str) -> str:
    """Hash workspace_id -> JSON {role, jpos} of the account's memberships (jpos: join position)."""
    return f"acct:{{{account_id}}}:ws"


def account_current(account_id: str) -> str:
    """Sorted set workspace_id -> position of the latest event that made that workspace the
    account's current one (a join with `current: true`, or `workspace.member_made_current`).

    Kept after the member leaves: that event cleared the flag in every other workspace.
    """
    return f"acct:{{{account_id}}}:cur"


def account_sessions(account_id: str) -> str:
    """Sorted set of the account's unrevoked session ids, score = created_at in ms."""
    return f"acct:{{{account_id}}}:sessions"


def sso_subject(subject_email: str | None, subject_issuer: str | None) -> str:
    """The tag of an external SSO subject's keys: a digest of its email and issuer."""
    return hashlib.sha256(f"{subject_email or ''}\0{subject_issuer or ''}".encode()).hexdigest()[:32]


def sso_sessions(subject: str) -> str:
    """Sorted set of an external SSO subject's unrevoked session ids (`subject`: sso_subject)."""
    return f"sso:{{{subject}}}:sessions"


# --- sessions (owner: their account or SSO subject) --------------------------------------


def session_rows(owner_id: str) -> str:
    """Hash of an account's (or SSO subject's) live sessions: session id -> row JSON.

    `owner_id` is the account id, or the sso_subject of an external SSO subject: the sessions
    live in the slot of the set that lists them. One hash per owner, not one per session, so
    a page of sessions is one HMGET.
    """
    return f"sess:{{{owner_id}}}:rows"


def session_expiries(owner_id: str) -> str:
    """Hash of the same sessions: session id -> expires_at in ms, or '' for none.

    Apart from the rows so that judging every session's expiry reads no row.
    """
    return f"sess:{{{owner_id}}}:exp"


def token(token_hash: str) -> str:
    """Hash of what authentication needs, by SHA-256 of the bearer token.

    Fields: sid, st (subject_type), acct, email, iss, exp (ms or ''), rev ("1" once revoked),
    `as` (an account token's account status, while the session is live), and the versions it
    was written from: sv (the session stream's) and, for an account's token, av (the
    account stream's).
    """
    return f"tok:{{{bucket(token_hash)}}}:{token_hash}"


def bucket(identifier: str) -> str:
    """One of 256 slot groups for keys found by an id alone (app locators, tokens)."""
    return identifier[:2]


# Fields of the id-found keys that only say which versions wrote them.
VERSION_FIELDS = frozenset({"v", "sv", "av"})


def owner_tag(suffix: str) -> str | None:
    """The owner id a key suffix carries in its hash tag; None for the keys found by an id
    alone (tokens, app locators: their owner is in their content) and for `{meta}`."""
    start = suffix.find("{")
    end = suffix.find("}", start + 1)
    if start == -1 or end == -1:
        return None
    tag = suffix[start + 1 : end]
    if tag == "meta" or (suffix.startswith(("tok:", "app:")) and len(tag) == 2):
        return None
    return tag


# --- outside the generations: the rate limits' budgets -----------------------------------
# A rebuild's flip must not refill a budget, so these live beside the generations. A token's
# shares its token's slot: on a Redis Cluster it is spent in the round trip that reads the token.


def token_budget(token_hash: str) -> str:
    """Sorted set: the requests of one bearer token in its window (see lua/spend.lua)."""
    return f"{PREFIX}rl:{{{bucket(token_hash)}}}:{token_hash}"


def account_budget(account_id: str) -> str:
    """Sorted set: an account's requests to GET /account in its window."""
    return f"{PREFIX}rl:acct:{{{account_id}}}"
