"""Which keys of the read model one workspace owns.

A workspace owns every key carrying its hash tag (its own keys, its apps' documents, the
states of its streams and its copies of its authors) and the locators of its apps, which
are found by the app's id alone. Verification of one workspace and its in-place rebuild
both need exactly this line, so it is drawn once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.readmodel import keys


@dataclass(frozen=True, slots=True)
class WorkspaceScope:
    """The line around one workspace's keys, given the ids of its apps."""

    workspace_id: str
    app_ids: frozenset[str]

    def owns_key(self, key: str) -> bool:
        if keys.owner_tag(key) == self.workspace_id:
            return True
        app_id = key.rsplit(":", 1)[-1]
        return app_id in self.app_ids and key == keys.app_workspace(app_id)

    def restrict(self, dump: dict[str, object]) -> dict[str, object]:
        """A dump (key -> hash, sorted set or set) cut down to what the workspace owns."""
        return {key: value for key, value in dump.items() if self.owns_key(key)}
