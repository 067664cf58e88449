"""Which records of the read model belong to one workspace.

A workspace owns its own keys (hash-tagged `{W}`), its streams' states, its apps' keys, and
single members of keys it shares with other workspaces: an account's membership entries for
W and the account's created-apps set entries for W's apps. Verification and the in-place
workspace rebuild both need exactly this line, so it is drawn once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.readmodel import keys

_MARK = "\0"


def _split(template: str) -> tuple[str, str]:
    prefix, _, suffix = template.partition(_MARK)
    return prefix, suffix


# An account's keys whose members are workspace ids, and the one whose members are app ids.
_BY_WORKSPACE = (_split(keys.account_workspaces(_MARK)), _split(keys.account_current(_MARK)))
_BY_APP = _split(keys.account_apps(_MARK))


@dataclass(frozen=True, slots=True)
class WorkspaceScope:
    """The line around one workspace's records, given the ids of its apps."""

    workspace_id: str
    app_ids: frozenset[str]

    def owns_key(self, key: str) -> bool:
        """The whole key (every member) belongs to the workspace."""
        if f"{{{self.workspace_id}}}" in key or key == keys.stream_state(f"workspace:{self.workspace_id}"):
            return True
        return any(
            key in (keys.app_workspace(app_id), keys.stream_state(f"app:{app_id}")) for app_id in self.app_ids
        )

    def owns_member(self, key: str, member: str) -> bool:
        """This member (field) of `key` belongs to the workspace."""
        if self.owns_key(key):
            return True
        if any(key.startswith(prefix) and key.endswith(suffix) for prefix, suffix in _BY_WORKSPACE):
            return member == self.workspace_id
        prefix, suffix = _BY_APP
        return key.startswith(prefix) and key.endswith(suffix) and member in self.app_ids

    def restrict(self, dump: dict[str, object]) -> dict[str, object]:
        """A dump (key -> hash, sorted set or set) cut down to what the workspace owns."""
        kept: dict[str, object] = {}
        for key, value in dump.items():
            if self.owns_key(key):
                kept[key] = value
            elif isinstance(value, dict):
                members = {m: v for m, v in value.items() if self.owns_member(key, m)}
                if members:
                    kept[key] = members
            elif isinstance(value, set):
                owned = {m for m in value if self.owns_member(key, m)}
                if owned:
                    kept[key] = owned
        return kept
