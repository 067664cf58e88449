"""Current Dify state the translation needs beyond a change row, read in bulk on one connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, text

from projector.capture.tables import TABLES_BY_NAME, json_row, schema_name

_APP_COLUMNS = TABLES_BY_NAME["apps"].columns
_CONFIG_COLUMNS = TABLES_BY_NAME["app_model_configs"].columns
_WORKFLOW_COLUMNS = TABLES_BY_NAME["workflows"].columns


_APP_TAGS = """
    SELECT b.target_id::text AS app_id, t.name
    FROM {s}.tag_bindings b
    JOIN {s}.tags t ON t.id = b.tag_id
    JOIN {s}.apps a ON a.id = b.target_id
    WHERE b.target_id = ANY(CAST(:ids AS uuid[]))
      AND b.tenant_id = a.tenant_id AND t.tenant_id = a.tenant_id AND t.type = 'app'
    ORDER BY b.target_id, t.name, t.id
"""
# Dify renders the first setting row of the app (there is one per app in practice).
_ANNOTATION_SETTINGS = """
    SELECT DISTINCT ON (s.app_id) s.app_id::text AS app_id, s.id::text AS id,
           s.score_threshold, b.provider_name, b.model_name
    FROM {s}.app_annotation_settings s
    LEFT JOIN {s}.dataset_collection_bindings b ON b.id = s.collection_binding_id
    WHERE s.app_id = ANY(CAST(:ids AS uuid[]))
    ORDER BY s.app_id, s.id
"""
_APPS_BOUND_TO_TAG = """
    SELECT DISTINCT target_id::text FROM {s}.tag_bindings
    WHERE tag_id = CAST(:tag AS uuid) AND target_id IS NOT NULL ORDER BY 1
"""
_APPS_USING_BINDING = """
    SELECT DISTINCT app_id::text FROM {s}.app_annotation_settings
    WHERE collection_binding_id = CAST(:binding AS uuid) ORDER BY 1
"""
_ROWS_BY_ID = "SELECT t.id::text, {row} FROM {s}.{table} t WHERE t.id = ANY(CAST(:ids AS uuid[]))"


class DifyLookups(Protocol):
    """The reads translation makes; `DifyState` answers them from PostgreSQL."""

    def apps(self, app_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def app_tags(self, apps: Sequence[dict[str, Any]]) -> dict[str, list[str]]: ...

    def model_configs(self, config_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def annotation_settings(self, app_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def workflows(self, workflow_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def apps_bound_to_tag(self, tag_id: str) -> list[str]: ...

    def apps_using_collection_binding(self, binding_id: str) -> list[str]: ...


class DifyState:
    """Answers `DifyLookups` with SQL on the connection (and so the snapshot) it is given."""

    def __init__(self, conn: Connection, *, schema: str = "public") -> None:
        self._conn = conn
        s = schema_name(schema)
        self._app_tags = text(_APP_TAGS.format(s=s))
        self._annotation_settings = text(_ANNOTATION_SETTINGS.format(s=s))
        self._apps_bound_to_tag = text(_APPS_BOUND_TO_TAG.format(s=s))
        self._apps_using_binding = text(_APPS_USING_BINDING.format(s=s))
        self._by_id = {
            table: text(_ROWS_BY_ID.format(s=s, table=table, row=json_row("t", columns)))
            for table, columns in (
                ("apps", _APP_COLUMNS),
                ("app_model_configs", _CONFIG_COLUMNS),
                ("workflows", _WORKFLOW_COLUMNS),
            )
        }

    def apps(self, app_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._rows_by_id("apps", app_ids)

    def app_tags(self, apps: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
        """Each app's tag names, as Dify's `App.tags` finds them (same tenant, type `app`)."""
        tags: dict[str, list[str]] = {str(app["id"]): [] for app in apps}
        if not tags:
            return tags
        rows = self._conn.execute(self._app_tags, {"ids": list(tags)})
        for app_id, name in rows:
            names = tags[app_id]
            if name not in names:
                names.append(name)
        return tags

    def model_configs(self, config_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._rows_by_id("app_model_configs", config_ids)

    def annotation_settings(self, app_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each app's annotation setting joined with its embedding model binding."""
        if not app_ids:
            return {}
        params = {"ids": list(dict.fromkeys(app_ids))}
        rows = self._conn.execute(self._annotation_settings, params).mappings()
        return {row["app_id"]: dict(row) for row in rows}

    def workflows(self, workflow_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._rows_by_id("workflows", workflow_ids)

    def apps_bound_to_tag(self, tag_id: str) -> list[str]:
        return list(self._conn.execute(self._apps_bound_to_tag, {"tag": tag_id}).scalars())

    def apps_using_collection_binding(self, binding_id: str) -> list[str]:
        return list(self._conn.execute(self._apps_using_binding, {"binding": binding_id}).scalars())

    def _rows_by_id(self, table: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = list(dict.fromkeys(i for i in ids if i))
        if not wanted:
            return {}
        rows = self._conn.execute(self._by_id[table], {"ids": wanted})
        return {str(row[0]): row[1] for row in rows}
