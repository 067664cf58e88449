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

APP_TAG_TYPE = "app"


@dataclass(frozen=True, slots=True)
class AppPage:
    """The rows of one page and the size of the whole filtered set."""

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

    def page(self, session: Session, query: AppsQuery) -> AppPage:
        visible = _visible_apps(query)
        total = session.scalar(select(func.count()).select_from(visible.subquery())) or 0
        apps = session.scalars(
            visible.order_by(App.created_at.desc(), App.id.desc())
            .limit(query.page.limit)
            .offset(query.page.offset)
        ).all()
        if self._per_row:
            tags: dict[str, list[str]] = {}
            author_of: dict[str, str | None] = {}
            for app in apps:
                tags.update(_tags_of(session, query.workspace_id, [app.id]))
                author_of[app.id] = _author_names(session, [app.created_by]).get(app.created_by or "")
        else:
            tags = _tags_of(session, query.workspace_id, [app.id for app in apps])
            names = _author_names(session, [app.created_by for app in apps])
            author_of = {app.id: names.get(app.created_by or "") for app in apps}
        workspace = session.get(Tenant, query.workspace_id)
        workspace_name = None if workspace is None else workspace.name
        rows = [
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
        return AppPage(total=total, rows=rows)


def _visible_apps(query: AppsQuery) -> Select[App]:
    statement = select(App).where(
        App.tenant_id == query.workspace_id,
        App.status == "normal",
        App.is_universal.is_(False),
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
