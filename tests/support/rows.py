"""Rows written straight into the events table, as a faulty producer bypassing `append` would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from projector.store import EventStore
from projector.store.schema import events as events_table


def insert_row(
    store: EventStore,
    stream: str,
    version: int,
    workspace_id: str | None,
    kind: str,
    data: str,
) -> int:
    """Insert one row whose `data` column holds `data` as given (JSON or not); its position."""
    row = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "schema": 1,
        "stream": stream,
        "version": version,
        "workspace_id": workspace_id,
        "occurred_at": "2025-07-01T10:00:00+00:00",
        "data": data,
        "recorded_at": datetime.now(UTC),
    }
    with store.engine.begin() as conn:
        return int(conn.execute(events_table.insert().returning(events_table.c.position), row).scalar_one())
