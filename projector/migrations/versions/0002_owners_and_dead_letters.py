"""Each event's owner and the account it names; the dead-letter table.

`owner` is the owner of the event's stream (shared/readmodel/owners.py): the partition an
event is routed to, and the group a rebuild reads together. `account_id` is the account a
membership event, an app's creation or a session's issue names: which workspaces show an
account's name, and an account's memberships, are found by it. Both are decided at append;
this fills them in for the events stored before.

The dead-letter table was created by the projector at run time before this revision; it is
created here when missing, the same table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from shared.events import Event
from shared.readmodel.owners import home_owner, named_account

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CHUNK = 2000
# The types whose payload names an account (owners.named_account).
_NAMING = (
    "workspace.member_joined",
    "workspace.member_role_changed",
    "workspace.member_left",
    "workspace.member_made_current",
    "app.created",
    "session.issued",
)


def upgrade() -> None:
    op.add_column("events", sa.Column("owner", sa.String(140), nullable=True))
    op.add_column("events", sa.Column("account_id", sa.String(36), nullable=True))
    _fill_owners()
    _fill_named_accounts()
    op.create_index("ix_events_owner", "events", ["owner", "stream", "version"])
    op.create_index("ix_events_account_id", "events", ["account_id", "stream"])
    # The events creating a workspace, which an account's memberships of it start from.
    created = sa.text("type = 'workspace.created'")
    op.create_index(
        "ix_events_workspace_created",
        "events",
        ["stream", "version"],
        postgresql_where=created,
        sqlite_where=created,
    )
    if not sa.inspect(op.get_bind()).has_table("dead_letters"):
        _create_dead_letters()


def downgrade() -> None:
    op.drop_index("ix_events_workspace_created", "events")
    op.drop_index("ix_events_account_id", "events")
    op.drop_index("ix_events_owner", "events")
    op.drop_column("events", "account_id")
    op.drop_column("events", "owner")
    op.drop_table("dead_letters")


def _fill_owners() -> None:
    bind = op.get_bind()
    # A workspace's and an account's streams own themselves; an app belongs to the workspace
    # of its first event.
    bind.execute(
        sa.text("UPDATE events SET owner = stream WHERE stream LIKE 'workspace:%' OR stream LIKE 'account:%'")
    )
    bind.execute(
        sa.text(
            "UPDATE events SET owner = COALESCE("
            " (SELECT 'workspace:' || f.workspace_id FROM events f"
            "  WHERE f.stream = events.stream AND f.version = 1 AND f.workspace_id IS NOT NULL),"
            " stream) WHERE stream LIKE 'app:%'"
        )
    )
    # A session belongs to whoever its issue names (a digest of an SSO subject: Python's).
    firsts = bind.execute(
        sa.text("SELECT stream, type, data FROM events WHERE stream LIKE 'session:%' AND version = 1")
    ).fetchall()
    updates = [{"o": _owner(row.stream, row.type, row.data), "s": row.stream} for row in firsts]
    for start in range(0, len(updates), _CHUNK):
        bind.execute(
            sa.text("UPDATE events SET owner = :o WHERE stream = :s"), updates[start : start + _CHUNK]
        )
    bind.execute(sa.text("UPDATE events SET owner = stream WHERE owner IS NULL"))


def _fill_named_accounts() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT position, type, stream, data FROM events WHERE type IN :types").bindparams(
            sa.bindparam("types", expanding=True)
        ),
        {"types": list(_NAMING)},
    ).fetchall()
    updates = []
    for row in rows:
        account = named_account(_event(row.stream, row.type, row.data))
        if account is not None:
            updates.append({"a": account, "p": row.position})
    for start in range(0, len(updates), _CHUNK):
        bind.execute(
            sa.text("UPDATE events SET account_id = :a WHERE position = :p"), updates[start : start + _CHUNK]
        )


def _owner(stream: str, event_type: str, data: str) -> str:
    return home_owner(_event(stream, event_type, data))


def _event(stream: str, event_type: str, data: str) -> Event:
    try:
        payload: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        payload = {}
    return Event(
        id="",
        type=event_type,
        stream=stream,
        version=1,
        workspace_id=None,
        occurred_at="",
        data=payload if isinstance(payload, dict) else {},
    )


def _create_dead_letters() -> None:
    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("position", sa.BigInteger, nullable=True),
        sa.Column("event_id", sa.Text, nullable=True),
        sa.Column("stream", sa.Text, nullable=True),
        sa.Column("type", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
