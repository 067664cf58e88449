"""Key names of the read model.

Every key lives under a generation: `rm:<generation>:<suffix>`. The pointer `rm:{meta}:live`
names the live generation; a rebuild writes a new generation beside it and flips the
pointer. Functions here return suffixes; on one Redis the Lua scripts resolve the generation
themselves so a flip is atomic with respect to every read and write.

Every key carries a Redis Cluster hash tag that says which keys must share a slot: a
workspace's keys and its apps' documents `{<workspace_id>}`, an account's keys and its
sessions `{<account_id>}`, an SSO subject's sessions `{<digest>}`, and everything global
(the pointers, each generation's watermark) `{meta}`, so a flip compares watermarks in one
slot; keys found by an id alone (tokens, app locators) are spread over 256 buckets by the
id's first two characters. Stream states have no braces and hash whole.
"""

from __future__ import annotations

import hashlib

PREFIX = "rm:"
LIVE_POINTER = "rm:{meta}:live"
REPLAY_POINTER = "rm:{meta}:replay"  # the generation a rebuild is writing, with its checkpoint
RETIRED = "rm:{meta}:retired"  # set: old generations a flip left to delete (a stop cut it short)
# The first layout's pointer (keys without hash tags): a rebuild deletes what it names.
LEGACY_LIVE_POINTER = "rm:live"


def full_key(generation: str, suffix: str) -> str:
    return f"{PREFIX}{generation}:{suffix}"


def generation_pattern(generation: str) -> str:
    """A SCAN pattern matching every key of one generation."""
    escaped = generation.replace("*", r"\*").replace("?", r"\?").replace("[", r"\[")
    return f"{PREFIX}{escaped}:*"


# --- generation-wide ---------------------------------------------------------------------

WATERMARK = "{meta}:wm"  # the highest store position applied
HEAL_RECORD = "rm:{meta}:healed"  # hash: what the last self-heal found, when, into which generation
HEAL_LOCK = "rm:{meta}:healing"  # held by the one process rebuilding after a loss
POISON = "{meta}:poison"  # hash: position -> reason, events a rebuild could not apply
# On a Redis Cluster only: `deps:{<tag>}`, per slot, the stream versions its records derive
# from (see projector/writer/cluster_apply.py). Bookkeeping, not part of the documents.
DEPENDENCIES = "deps"


# --- per stream: the folded state and its version ---------------------------------------


def stream_state(stream: str) -> str:
    """Hash {v: version, s: state JSON} of one stream; `v` drives the effectively-once check."""
    return f"st:{stream}"


def stream_lock(stream: str) -> str:
    """On a Redis Cluster only: a writer's short lock on a stream (projector/writer/stream_locks.py)."""
    return f"lock:{stream}"


# --- workspaces --------------------------------------------------------------------------


def workspace(workspace_id: str) -> str:
    """Hash {name, status}."""
    return f"ws:{{{workspace_id}}}"


def workspace_members(workspace_id: str) -> str:
    """Hash account_id -> role."""
    return f"ws:{{{workspace_id}}}:members"


def workspace_apps(workspace_id: str) -> str:
    """Set of every (not deleted) app id of the workspace, for fan-out on rename."""
    return f"ws:{{{workspace_id}}}:apps"


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


# --- apps --------------------------------------------------------------------------------


def app(workspace_id: str, app_id: str) -> str:
    """Hash of one visible app's pre-serialised documents, in its workspace's slot.

    Fields: vis ("1"), row (list row), summary (GET /apps/{id}), info (describe info), params
    (parameters minus system_parameters; absent with no published config), schema (describe
    input_schema).
    """
    return f"app:{{{workspace_id}}}:{app_id}"


def app_workspace(app_id: str) -> str:
    """Hash {ws} of a visible app: where GET /apps/{id} finds the app's workspace."""
    return f"app:{{{bucket(app_id)}}}:{app_id}"


# --- accounts ----------------------------------------------------------------------------


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


def account_apps(account_id: str) -> str:
    """Set of the (not deleted) app ids the account created, for fan-out on rename."""
    return f"acct:{{{account_id}}}:apps"


def account_sessions(account_id: str) -> str:
    """Sorted set of the account's unrevoked session ids, score = created_at in ms."""
    return f"acct:{{{account_id}}}:sessions"


def sso_subject(subject_email: str | None, subject_issuer: str | None) -> str:
    """The tag of an external SSO subject's keys: a digest of its email and issuer."""
    return hashlib.sha256(f"{subject_email or ''}\0{subject_issuer or ''}".encode()).hexdigest()[:32]


def sso_sessions(subject: str) -> str:
    """Sorted set of an external SSO subject's unrevoked session ids (`subject`: sso_subject)."""
    return f"sso:{{{subject}}}:sessions"


# --- sessions ----------------------------------------------------------------------------


def session(owner: str, session_id: str) -> str:
    """Hash {row: session row JSON, exp: expires_at in ms or ''}.

    `owner` is the account id, or the sso_subject of an external SSO subject: a session lives
    in the slot of the set that lists it.
    """
    return f"sess:{{{owner}}}:{session_id}"


def token(token_hash: str) -> str:
    """Hash of what authentication needs, by SHA-256 of the bearer token.

    Fields: sid, st (subject_type), acct, email, iss, exp (ms or ''), rev ("1" once revoked).
    """
    return f"tok:{{{bucket(token_hash)}}}:{token_hash}"


def bucket(identifier: str) -> str:
    """One of 256 slot groups for keys found by an id alone (app locators, tokens): few enough
    that a cluster keeps one small bookkeeping hash per group, not one per key."""
    return identifier[:2]


# --- outside the generations: the rate limits' budgets -----------------------------------
# A rebuild's flip must not refill a budget, so these live beside the generations. A token's
# shares its token's slot: on a Redis Cluster it is spent in the round trip that reads the token.


def token_budget(token_hash: str) -> str:
    """Sorted set: the requests of one bearer token in its window (see lua/spend.lua)."""
    return f"{PREFIX}rl:{{{bucket(token_hash)}}}:{token_hash}"


def account_budget(account_id: str) -> str:
    """Sorted set: an account's requests to GET /account in its window."""
    return f"{PREFIX}rl:acct:{{{account_id}}}"
