"""One page of a workspace's visible apps, queried through the ORM the way Dify queries it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bench.dify_reference.models import Account, App, Tag, TagBinding, Tenant
from query_api.queries import AppsQuery
from query_api.resources.apps import RAG_PIPELINE_REFUSED
from shared.auth.errors import BadRequest

APP_TAG_TYPE = "app"


@dataclass(frozen=True, slots=True)
class AppPage:
    """The rows of one page, the size of the whole filtered set, and the page and limit the
    envelope states (an app looked up by id is page 1 of limit 1, whatever was asked)."""

    page: int
    limit: int
    total: int
    rows: list[dict[str, Any]]


class AppListing:
    """Count, page, tags, authors and workspace name: Dify's queries for the app list.

    By default tags and authors are fetched for the whole page in one query each. With
    `per_row` they are fetched per app, as Dify's `App.tags` and `App.author_name` model
    properties do when a serializer reads them row by row.
    """

    def __init__(self, *, per_row: bool = False) -> None:
        self._per_row = per_row

    def page(self, session: Session, query: AppsQuery, *, wants_rag_pipeline: bool = False) -> AppPage:
        """The page `query` asks for, checked in Dify's order: a UUID-valued name looks that app
        up, an unknown tag is an empty page, and only then is the mode checked."""
        assert query.page is not None
        empty = AppPage(query.page.page, query.page.limit, 0, [])
        if query.exact_app_id:
            app = session.get(App, query.exact_app_id)
            if app is None or not _listed(app) or app.tenant_id != query.workspace_id:
                return empty
            return AppPage(1, 1, 1, self._rows(session, query.workspace_id, [app]))
        if query.tag and not _tag_known(session, query.workspace_id, query.tag):
            return empty
        if wants_rag_pipeline:
            # Dify's app service cannot filter by this mode; its validation error escapes as a 400.
            raise BadRequest(RAG_PIPELINE_REFUSED)
        visible = _visible_apps(query)
        total = session.scalar(select(func.count()).select_from(visible.subquery())) or 0
        apps = session.scalars(
            visible.order_by(App.created_at.desc(), App.id.desc())
            .limit(query.page.limit)
            .offset(query.page.offset)
        ).all()
        return AppPage(
            query.page.page, query.page.limit, total, self._rows(session, query.workspace_id, apps)
        )

    def _rows(self, session: Session, workspace_id: str, apps: Sequence[App]) -> list[dict[str, Any]]:
        if not apps:
            return []  # Dify asks nothing more for an empty page
        if self._per_row:
            tags: dict[str, list[str]] = {}
            author_of: dict[str, str | None] = {}
            for app in apps:
                tags.update(_tags_of(session, workspace_id, [app.id]))
                author_of[app.id] = _author_names(session, [app.created_by]).get(app.created_by or "")
        else:
            tags = _tags_of(session, workspace_id, [app.id for app in apps])
            names = _author_names(session, [app.created_by for app in apps])
            author_of = {app.id: names.get(app.created_by or "") for app in apps}
        workspace = session.get(Tenant, workspace_id)
        workspace_name = None if workspace is None else workspace.name
        return [
            {
                "id": app.id,
                "name": app.name,
                "description": app.description,
                "mode": app.mode,
                "tags": [{"name": name} for name in tags.get(app.id, [])],
                # Naive UTC: isoformat gives Dify's rendering (microseconds only when non-zero).
                "updated_at": app.updated_at.isoformat(),
                "created_by_name": author_of[app.id],
                "workspace_id": app.tenant_id,
                "workspace_name": workspace_name,
            }
            for app in apps
        ]


def _listed(app: App) -> bool:
    """Dify's `get_visible_app_by_id`: a normal app whose service API is on."""
    return app.status == "normal" and app.enable_api


def _visible_apps(query: AppsQuery) -> Select[App]:
    # Dify's list: normal apps, not universal, and (its openapi gate) service API on.
    statement = select(App).where(
        App.tenant_id == query.workspace_id,
        App.status == "normal",
        App.is_universal.is_(False),
        App.enable_api.is_(True),
    )
    if query.mode:
        statement = statement.where(App.mode == query.mode)
    if query.name_needle:
        statement = statement.where(App.name.ilike(f"%{_escape_like(query.name_needle)}%", escape="\\"))
    if query.tag:
        tagged = (
            select(TagBinding.target_id)
            .join(Tag, Tag.id == TagBinding.tag_id)
            .where(Tag.tenant_id == query.workspace_id, Tag.type == APP_TAG_TYPE, Tag.name == query.tag)
        )
        statement = statement.where(App.id.in_(tagged))
    return statement


def _tag_known(session: Session, workspace_id: str, name: str) -> bool:
    found = session.scalars(
        select(Tag.id)
        .where(Tag.tenant_id == workspace_id, Tag.type == APP_TAG_TYPE, Tag.name == name)
        .limit(1)
    ).first()
    return found is not None


def _tags_of(session: Session, workspace_id: str, app_ids: Sequence[str]) -> dict[str, list[str]]:
    if not app_ids:
        return {}
    found = session.execute(
        select(TagBinding.target_id, Tag)
        .join(Tag, Tag.id == TagBinding.tag_id)
        .where(
            TagBinding.target_id.in_(app_ids),
            TagBinding.tenant_id == workspace_id,
            Tag.tenant_id == workspace_id,
            Tag.type == APP_TAG_TYPE,
        )
    ).all()
    tags: dict[str, list[str]] = defaultdict(list)
    for target_id, tag in found:
        if target_id is not None:
            tags[target_id].append(tag.name)
    return tags


def _author_names(session: Session, account_ids: Sequence[str | None]) -> dict[str, str]:
    wanted = {account_id for account_id in account_ids if account_id is not None}
    if not wanted:
        return {}
    accounts = session.scalars(select(Account).where(Account.id.in_(wanted))).all()
    return {account.id: account.name for account in accounts}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
