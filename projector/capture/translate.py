"""Translating recorded Dify row changes into contract events (without versions yet)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from projector.capture import rows
from projector.capture.changes import DELETE, INSERT, UPDATE, Change
from projector.capture.dify import DifyLookups
from projector.capture.drafts import Draft, DraftList
from projector.capture.values import utc_timestamp
from shared.readmodel.documents import WORKFLOW_MODES


def translate(changes: Sequence[Change], lookups: DifyLookups) -> list[Draft]:
    """The events for a batch of changes, in change order.

    Where an event needs more than the change row (an app's tag names, the content of the
    config an app now points to), `lookups` answers from the Dify database as it is now, in
    the snapshot the batch was read in.
    """
    return _Batch(_CachedLookups(lookups, changes)).translate(changes)


class _CachedLookups:
    """Per-batch memo over `DifyLookups`, warmed with one bulk query per kind of row."""

    def __init__(self, lookups: DifyLookups, changes: Sequence[Change]) -> None:
        self._lookups = lookups
        self._apps: dict[str, dict[str, Any] | None] = {}
        self._tags: dict[str, list[str]] = {}
        self._configs: dict[str, dict[str, Any] | None] = {}
        self._workflows: dict[str, dict[str, Any] | None] = {}
        self._annotations: dict[str, dict[str, Any] | None] = {}
        self._warm(changes)

    def app(self, app_id: str | None) -> dict[str, Any] | None:
        if not app_id:
            return None
        if app_id not in self._apps:
            self._load_apps([app_id])
        return self._apps[app_id]

    def tags(self, app: dict[str, Any]) -> list[str]:
        app_id = str(app["id"])
        if app_id not in self._tags:
            self._tags.update(self._lookups.app_tags([app]))
        return list(self._tags.get(app_id, []))

    def config(self, config_id: str | None) -> dict[str, Any] | None:
        if not config_id:
            return None
        if config_id not in self._configs:
            self._configs[config_id] = self._lookups.model_configs([config_id]).get(config_id)
        return self._configs[config_id]

    def workflow(self, workflow_id: str | None) -> dict[str, Any] | None:
        if not workflow_id:
            return None
        if workflow_id not in self._workflows:
            self._workflows[workflow_id] = self._lookups.workflows([workflow_id]).get(workflow_id)
        return self._workflows[workflow_id]

    def annotation(self, app_id: str) -> dict[str, Any] | None:
        if app_id not in self._annotations:
            self._annotations[app_id] = self._lookups.annotation_settings([app_id]).get(app_id)
        return self._annotations[app_id]

    def apps_bound_to_tag(self, tag_id: str) -> list[str]:
        return self._lookups.apps_bound_to_tag(tag_id)

    def apps_using_collection_binding(self, binding_id: str) -> list[str]:
        return self._lookups.apps_using_collection_binding(binding_id)

    def _load_apps(self, app_ids: Iterable[str]) -> None:
        wanted = [app_id for app_id in dict.fromkeys(app_ids) if app_id and app_id not in self._apps]
        if not wanted:
            return
        found = self._lookups.apps(wanted)
        for app_id in wanted:
            self._apps[app_id] = found.get(app_id)
        present = list(found.values())
        if present:
            self._tags.update(self._lookups.app_tags(present))
            self._annotations.update(dict.fromkeys((str(app["id"]) for app in present), None))
            self._annotations.update(self._lookups.annotation_settings([str(app["id"]) for app in present]))

    def _warm(self, changes: Sequence[Change]) -> None:
        app_ids: list[str] = []
        workflow_ids: list[str] = []
        for change in changes:
            for row in (change.old, change.new):
                if row is None:
                    continue
                if change.table == "apps":
                    app_ids.append(str(row.get("id")))
                    # Only a re-pointed app needs its workflow: graphs are the big rows.
                    if change.changed("workflow_id"):
                        workflow_ids.append(str(row.get("workflow_id") or ""))
                elif change.table in ("app_model_configs", "app_annotation_settings", "workflows"):
                    app_ids.append(str(row.get("app_id") or ""))
                elif change.table == "tag_bindings":
                    app_ids.append(str(row.get("target_id") or ""))
        self._load_apps(app_ids)
        config_ids = [
            str(app.get("app_model_config_id") or "") for app in self._apps.values() if app is not None
        ]
        config_ids += [
            str(change.row.get("app_model_config_id") or "") for change in changes if change.table == "apps"
        ]
        configs = [i for i in dict.fromkeys(config_ids) if i]
        found_configs = self._lookups.model_configs(configs) if configs else {}
        self._configs.update({i: found_configs.get(i) for i in configs})
        workflows = [i for i in dict.fromkeys(workflow_ids) if i]
        found_workflows = self._lookups.workflows(workflows) if workflows else {}
        self._workflows.update({i: found_workflows.get(i) for i in workflows})


class _Batch:
    """Translates one batch; remembers what it emitted so repeats inside the batch are dropped."""

    def __init__(self, lookups: _CachedLookups) -> None:
        self._lookups = lookups
        self._tags_sent: dict[str, list[str]] = {}
        self._config_sent: dict[str, dict[str, Any]] = {}
        self._handlers: dict[str, Callable[[Change, DraftList], None]] = {
            "tenants": self._tenant,
            "accounts": self._account,
            "tenant_account_joins": self._membership,
            "apps": self._app,
            "app_model_configs": self._model_config,
            "app_annotation_settings": self._annotation_setting,
            "dataset_collection_bindings": self._collection_binding,
            "workflows": self._workflow,
            "tags": self._tag,
            "tag_bindings": self._tag_binding,
            "oauth_access_tokens": self._token,
        }

    def translate(self, changes: Sequence[Change]) -> list[Draft]:
        drafts: list[Draft] = []
        for change in changes:
            handler = self._handlers.get(change.table)
            if handler is None:
                continue
            out = DraftList(f"change:{change.txid}:{change.id}", utc_timestamp(change.captured_at) or "")
            handler(change, out)
            drafts.extend(out.drafts)
        return drafts

    # --- workspaces, accounts, members -------------------------------------------------

    def _tenant(self, change: Change, out: DraftList) -> None:
        row = change.row
        workspace_id = str(row.get("id"))
        stream = f"workspace:{workspace_id}"
        if change.op == INSERT:
            out.add("workspace.created", stream, workspace_id, rows.workspace_created(row))
        elif change.op == UPDATE:
            if change.changed("name"):
                out.add("workspace.renamed", stream, workspace_id, {"name": row.get("name")})
            if change.changed("status"):  # Dify archives a workspace (or restores it)
                status = row.get("status") or "normal"
                out.add("workspace.status_changed", stream, workspace_id, {"status": status})
        # Dify never deletes a tenant row.

    def _account(self, change: Change, out: DraftList) -> None:
        row = change.row
        stream = f"account:{row.get('id')}"
        if change.op == INSERT:
            out.add("account.created", stream, None, rows.account_created(row))
        elif change.op == UPDATE:
            changed = {key: row.get(key) for key in rows.ACCOUNT_KEYS if change.changed(key)}
            if changed:
                out.add("account.updated", stream, None, changed)

    def _membership(self, change: Change, out: DraftList) -> None:
        row = change.row
        workspace_id = str(row.get("tenant_id"))
        stream = f"workspace:{workspace_id}"
        account_id = row.get("account_id")
        if change.op == INSERT:
            out.add("workspace.member_joined", stream, workspace_id, rows.member_joined(row))
        elif change.op == DELETE:
            out.add("workspace.member_left", stream, workspace_id, {"account_id": account_id})
        else:
            if change.changed("role"):
                data = {"account_id": account_id, "role": row.get("role")}
                out.add("workspace.member_role_changed", stream, workspace_id, data)
            # A switch sets the new join's flag and clears the old one's: the setting carries
            # it all (the latest one wins), so a flag going false is not an event.
            if change.changed("current") and row.get("current") is True:
                data = {"account_id": account_id}
                out.add("workspace.member_made_current", stream, workspace_id, data)

    # --- apps --------------------------------------------------------------------------

    def _app(self, change: Change, out: DraftList) -> None:
        row = change.row
        app_id = str(row.get("id"))
        workspace_id = str(row.get("tenant_id"))
        stream = f"app:{app_id}"
        if change.op == DELETE:
            out.add("app.deleted", stream, workspace_id, {})
            return
        if change.op == INSERT:
            current = self._lookups.app(app_id)
            tags = self._lookups.tags(current) if current is not None else []
            self._tags_sent[app_id] = tags
            out.add("app.created", stream, workspace_id, rows.app_created(row, tags))
        else:
            changed = {
                key: rows.app_value(key, row.get(key)) for key in rows.APP_UPDATE_KEYS if change.changed(key)
            }
            if changed:
                out.add("app.updated", stream, workspace_id, changed)
        config_id = row.get("app_model_config_id")
        if config_id and change.changed("app_model_config_id"):
            self._publish_config(row, self._lookups.config(config_id), out)
        workflow_id = row.get("workflow_id")
        if workflow_id and change.changed("workflow_id"):
            self._publish_workflow(row, self._lookups.workflow(workflow_id), out)

    def _model_config(self, change: Change, out: DraftList) -> None:
        # New config rows matter only once an app points at one (seen on the apps change);
        # a config edited in place matters when it is the one the app points at.
        if change.op != UPDATE or change.old is None or change.new is None:
            return
        app = self._lookups.app(change.new.get("app_id"))
        if app is None or app.get("app_model_config_id") != change.new.get("id"):
            return
        no_reply: dict[str, Any] = {}
        if rows.model_config_published(change.old, no_reply) != rows.model_config_published(
            change.new, no_reply
        ):
            self._publish_config(app, change.new, out)

    def _annotation_setting(self, change: Change, out: DraftList) -> None:
        for app_id in _values(change, "app_id"):
            self._republish_config(app_id, out)

    def _collection_binding(self, change: Change, out: DraftList) -> None:
        # Bindings are shared: every app whose annotation setting uses this one shows its model.
        if change.row_id is None:
            return
        for app_id in self._lookups.apps_using_collection_binding(change.row_id):
            self._republish_config(app_id, out)

    def _republish_config(self, app_id: str, out: DraftList) -> None:
        app = self._lookups.app(app_id)
        if app is None or not app.get("app_model_config_id"):
            return
        self._publish_config(app, self._lookups.config(app["app_model_config_id"]), out)

    def _publish_config(self, app: dict[str, Any], config: dict[str, Any] | None, out: DraftList) -> None:
        if config is None or app.get("mode") not in rows.CONFIG_MODES:
            return
        app_id = str(app.get("id"))
        data = rows.model_config_published(config, rows.annotation_reply(self._lookups.annotation(app_id)))
        if self._config_sent.get(app_id) == data:
            return
        self._config_sent[app_id] = data
        out.add("app.model_config_published", f"app:{app_id}", str(app.get("tenant_id")), data)

    def _workflow(self, change: Change, out: DraftList) -> None:
        # Publishing inserts a new row and re-points the app (seen on the apps change); drafts
        # never reach the change table. What is left: the published row edited in place.
        if change.op != UPDATE or change.old is None or change.new is None:
            return
        app = self._lookups.app(change.new.get("app_id"))
        if app is None or app.get("workflow_id") != change.new.get("id"):
            return
        if rows.workflow_published(change.old) != rows.workflow_published(change.new):
            self._publish_workflow(app, change.new, out)

    def _publish_workflow(self, app: dict[str, Any], workflow: dict[str, Any] | None, out: DraftList) -> None:
        if workflow is None or app.get("mode") not in WORKFLOW_MODES:
            return
        data = rows.workflow_published(workflow)
        out.add("app.workflow_published", f"app:{app.get('id')}", str(app.get("tenant_id")), data)

    # --- tags --------------------------------------------------------------------------

    def _tag(self, change: Change, out: DraftList) -> None:
        if change.op == INSERT or change.row_id is None:
            return
        if change.op == UPDATE and not (change.changed("name") or change.changed("type")):
            return
        for app_id in self._lookups.apps_bound_to_tag(change.row_id):
            self._send_tags(app_id, out)

    def _tag_binding(self, change: Change, out: DraftList) -> None:
        for app_id in _values(change, "target_id"):
            self._send_tags(app_id, out)

    def _send_tags(self, app_id: str, out: DraftList) -> None:
        app = self._lookups.app(app_id)
        if app is None:
            # Not an app (a knowledge tag's dataset) or already deleted.
            return
        tags = self._lookups.tags(app)
        if self._tags_sent.get(app_id) == tags:
            return
        self._tags_sent[app_id] = tags
        out.add("app.tags_set", f"app:{app_id}", str(app.get("tenant_id")), {"tags": tags})

    # --- sessions ----------------------------------------------------------------------

    def _token(self, change: Change, out: DraftList) -> None:
        row = change.row
        stream = f"session:{row.get('id')}"
        old = change.old or {}
        if change.op == INSERT:
            issued = rows.session_issued(row)
            if issued is None:
                return
            out.add("session.issued", stream, None, issued)
            if row.get("last_used_at"):
                out.add("session.used", stream, None, {"last_used_at": utc_timestamp(row["last_used_at"])})
            if row.get("revoked_at"):
                out.add("session.revoked", stream, None, {"revoked_at": utc_timestamp(row["revoked_at"])})
            return
        if change.op == DELETE:
            # A deleted row can never authenticate again: for the read model it is revoked.
            if old.get("token_hash") and not old.get("revoked_at"):
                out.add("session.revoked", stream, None, {"revoked_at": out.occurred_at})
            return
        if not old.get("token_hash") and row.get("token_hash"):
            issued = rows.session_issued(row)
            if issued is not None:
                out.add("session.issued", stream, None, issued)
        if row.get("last_used_at") and change.changed("last_used_at"):
            out.add("session.used", stream, None, {"last_used_at": utc_timestamp(row["last_used_at"])})
        if row.get("revoked_at") and not old.get("revoked_at"):
            out.add("session.revoked", stream, None, {"revoked_at": utc_timestamp(row["revoked_at"])})
        elif old.get("token_hash") and not row.get("token_hash") and not old.get("revoked_at"):
            # Dify clears the hash of a hard-expired token: nothing can match it any more,
            # which for the read model is the same as a revocation at that moment.
            out.add("session.revoked", stream, None, {"revoked_at": out.occurred_at})


def _values(change: Change, column: str) -> list[str]:
    """The distinct non-null values of `column` before and after the change."""
    found = [row.get(column) for row in (change.old, change.new) if row is not None]
    return [str(value) for value in dict.fromkeys(found) if value]
