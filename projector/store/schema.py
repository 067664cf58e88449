"""The store's tables as SQLAlchemy Core sees them; the migrations create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# On PostgreSQL the table also has `txid xid8` (the inserting transaction). It is not
# declared here: only the settled read uses it, through SQL of its own.
events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "position",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.Identity(always=True),
        primary_key=True,
    ),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
    sa.Column("stream", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("workspace_id", sa.String(36), nullable=True),
    sa.Column("occurred_at", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    # The owner of the event's stream and the account the event names (shared/readmodel/owners.py),
    # decided at append. A row written around the append may lack an owner: reads fill it in.
    sa.Column("owner", sa.String(140), nullable=True),
    sa.Column("account_id", sa.String(36), nullable=True),
    sa.UniqueConstraint("stream", "version", name="uq_events_stream_version"),
    sqlite_autoincrement=True,
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("txid", sa.BigInteger, nullable=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)

EVENT_COLUMNS = (
    events.c.position,
    events.c.id,
    events.c.type,
    events.c["schema"],
    events.c.stream,
    events.c.version,
    events.c.workspace_id,
    events.c.occurred_at,
    events.c.data,
    events.c.recorded_at,
    events.c.owner,
)
