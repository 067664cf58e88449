"""`source snapshot`: events for the current state of a Dify database that already has data.

Everything is read in one REPEATABLE READ transaction, so the snapshot is one consistent
moment. That moment (`pg_current_snapshot()`) is recorded in the Dify database when the
snapshot finishes, and the change feed then skips exactly the changes visible in it: those
are contained in the snapshot, every other change comes after it. No gap, no overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from projector.capture import rows
from projector.capture.changes import ChangeFeed
from projector.capture.dify import DifyState
from projector.capture.drafts import OPENING_TYPES, Draft, DraftList
from projector.capture.lock import capture_lock
from projector.capture.runner import CURSOR_NAME, DEFAULT_BATCH_SIZE, CaptureStore, Progress, quiet
from projector.capture.tables import TABLES_BY_NAME, json_row, schema_name
from projector.capture.values import utc_timestamp
from projector.capture.versions import assign_versions
from shared.errors import ReadModelError
from shared.readmodel.documents import WORKFLOW_MODES

_PAGE = "SELECT {row} FROM {s}.{table} t {where} ORDER BY t.created_at, t.id"
# Workflow graphs can be large: fetch them a few at a time to keep memory bounded.
_WORKFLOW_CHUNK = 50


class SnapshotRefusedError(ReadModelError):
    """The snapshot cannot run: one was taken already, or the feed has been consumed."""


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    """What a snapshot wrote, and the PostgreSQL snapshot it was taken in."""

    snapshot: str
    rows: int
    events: int


class Snapshotter:
    """Emits the current state of every watched row as events, then hands over to the feed."""

    def __init__(
        self,
        dify: Engine,
        store: CaptureStore,
        *,
        schema: str = "public",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress = quiet,
    ) -> None:
        self._dify = dify
        self._store = store
        self._schema = schema
        self._feed = ChangeFeed(schema)
        self._batch_size = batch_size
        self._progress = progress

    def take(self) -> SnapshotReport:
        """Take the snapshot; refuses when the change feed has been read or a snapshot exists."""
        with capture_lock(self._dify):
            self._claim()
            row_count = event_count = 0
            per_table: dict[str, tuple[int, int]] = {}
            try:
                with self._dify.connect() as plain:
                    conn = plain.execution_options(isolation_level="REPEATABLE READ")
                    with conn.begin():
                        # The first statement fixes the transaction's snapshot for every later read.
                        snapshot, taken_at = conn.execute(
                            text("SELECT pg_current_snapshot()::text, now()")
                        ).one()
                        reader = _SnapshotReader(
                            conn, self._schema, str(snapshot), utc_timestamp(taken_at) or ""
                        )
                        for table, page in reader.pages(self._batch_size):
                            appended = self._append(page.drafts)
                            row_count += len(page.rows)
                            event_count += appended
                            rows, events = per_table.get(table, (0, 0))
                            per_table[table] = (rows + len(page.rows), events + appended)
                            self._progress(_progress_line(table, per_table[table], row_count, event_count))
            except BaseException:
                if event_count == 0:
                    # Nothing reached the store: the snapshot can simply be taken again.
                    with self._dify.begin() as conn:
                        self._feed.clear_snapshot(conn)
                raise
            with self._dify.begin() as conn:
                self._feed.mark_snapshot_done(conn, str(snapshot))
        self._progress(f"snapshot: done ({row_count} rows, {event_count} events); snapshot {snapshot}")
        return SnapshotReport(snapshot=str(snapshot), rows=row_count, events=event_count)

    def _claim(self) -> None:
        if self._store.load_cursor(CURSOR_NAME).position:
            raise SnapshotRefusedError(
                "the change feed has already been captured into this event store; a snapshot "
                "now would repeat what it holds",
            )
        with self._dify.begin() as conn:
            state = self._feed.snapshot_state(conn)
            if state is not None:
                raise SnapshotRefusedError(
                    f"a snapshot of this Dify database was already {state}; to start over, "
                    "uninstall and install the capture again and use an empty event store",
                )
            self._feed.mark_snapshot_started(conn)

    def _append(self, drafts: Sequence[Draft]) -> int:
        assignment = assign_versions(drafts, self._store)
        for event in assignment.events:
            if event.version == 1 or event.type not in OPENING_TYPES:
                continue
            raise SnapshotRefusedError(
                f"stream {event.stream} already has events in the event store; a snapshot "
                "starts every stream it writes and needs a store without this Dify's data",
            )
        for refused in assignment.refused:
            self._progress(
                f"snapshot: refused {refused.draft.type} on {refused.draft.stream}: {refused.reason}"
            )
        if assignment.events:
            self._store.append(assignment.events)
        return len(assignment.events)


def _progress_line(table: str, in_table: tuple[int, int], rows: int, events: int) -> str:
    """One page's progress: the running totals of its table, then of the whole snapshot."""
    return (
        f"snapshot: {table}: {in_table[0]} rows -> {in_table[1]} events so far in this table "
        f"(all tables: {rows} rows -> {events} events)"
    )


@dataclass(frozen=True, slots=True)
class _Page:
    rows: list[dict[str, Any]]
    drafts: list[Draft]


class _SnapshotReader:
    """Reads the watched tables page by page inside the snapshot transaction."""

    def __init__(self, conn: Connection, schema: str, snapshot: str, taken_at: str) -> None:
        self._conn = conn
        self._s = schema_name(schema)
        self._snapshot = snapshot
        self._taken_at = taken_at
        self._state = DifyState(conn, schema=schema)

    def pages(self, size: int) -> Iterator[tuple[str, _Page]]:
        sections: tuple[tuple[str, str, Callable[[list[dict[str, Any]]], list[Draft]]], ...] = (
            ("tenants", "", self._workspaces),
            ("accounts", "", self._accounts),
            ("tenant_account_joins", "", self._members),
            ("apps", "", self._apps),
            # Live sessions only: revoked ones and hard-expired ones (hash cleared) are gone.
            (
                "oauth_access_tokens",
                "WHERE t.token_hash IS NOT NULL AND t.revoked_at IS NULL",
                self._sessions,
            ),
        )
        for table, where, translate in sections:
            for page in self._rows(table, where, size):
                yield table, _Page(rows=page, drafts=translate(page))

    def _rows(self, table: str, where: str, size: int) -> Iterator[list[dict[str, Any]]]:
        columns = TABLES_BY_NAME[table].columns
        if "created_at" not in columns:
            columns = (*columns, "created_at")
        # A server-side cursor: one sorted scan, fetched `size` rows at a time.
        statement = _PAGE.format(row=json_row("t", columns), s=self._s, table=table, where=where)
        result = self._conn.execution_options(stream_results=True, max_row_buffer=size).execute(
            text(statement)
        )
        try:
            for partition in result.partitions(size):
                yield [row[0] for row in partition]
        finally:
            result.close()

    def _source(self, table: str, row: dict[str, Any]) -> DraftList:
        return DraftList(
            f"snapshot:{self._snapshot}:{table}:{row.get('id')}",
            utc_timestamp(row.get("created_at")) or self._taken_at,
        )

    def _workspaces(self, page: list[dict[str, Any]]) -> list[Draft]:
        drafts: list[Draft] = []
        for row in page:
            out = self._source("tenants", row)
            workspace_id = str(row.get("id"))
            out.add(
                "workspace.created", f"workspace:{workspace_id}", workspace_id, rows.workspace_created(row)
            )
            drafts.extend(out.drafts)
        return drafts

    def _accounts(self, page: list[dict[str, Any]]) -> list[Draft]:
        drafts: list[Draft] = []
        for row in page:
            out = self._source("accounts", row)
            out.add("account.created", f"account:{row.get('id')}", None, rows.account_created(row))
            drafts.extend(out.drafts)
        return drafts

    def _members(self, page: list[dict[str, Any]]) -> list[Draft]:
        drafts: list[Draft] = []
        for row in page:
            out = self._source("tenant_account_joins", row)
            workspace_id = str(row.get("tenant_id"))
            out.add(
                "workspace.member_joined", f"workspace:{workspace_id}", workspace_id, rows.member_joined(row)
            )
            drafts.extend(out.drafts)
        return drafts

    def _apps(self, page: list[dict[str, Any]]) -> list[Draft]:
        app_ids = [str(row.get("id")) for row in page]
        tags = self._state.app_tags(page)
        configs = self._state.model_configs([str(row.get("app_model_config_id") or "") for row in page])
        annotations = self._state.annotation_settings(app_ids)
        workflow_ids = [str(row["workflow_id"]) for row in page if row.get("workflow_id")]
        workflows: dict[str, dict[str, Any]] = {}
        for start in range(0, len(workflow_ids), _WORKFLOW_CHUNK):
            workflows.update(self._state.workflows(workflow_ids[start : start + _WORKFLOW_CHUNK]))
        drafts: list[Draft] = []
        for row in page:
            app_id = str(row.get("id"))
            workspace_id = str(row.get("tenant_id"))
            stream = f"app:{app_id}"
            out = self._source("apps", row)
            out.add("app.created", stream, workspace_id, rows.app_created(row, tags.get(app_id, [])))
            config = configs.get(str(row.get("app_model_config_id")))
            if config is not None and row.get("mode") in rows.CONFIG_MODES:
                data = rows.model_config_published(config, rows.annotation_reply(annotations.get(app_id)))
                out.add("app.model_config_published", stream, workspace_id, data, occurred_at=self._taken_at)
            workflow = workflows.get(str(row.get("workflow_id")))
            if workflow is not None and row.get("mode") in WORKFLOW_MODES:
                data = rows.workflow_published(workflow)
                out.add("app.workflow_published", stream, workspace_id, data, occurred_at=self._taken_at)
            drafts.extend(out.drafts)
        return drafts

    def _sessions(self, page: list[dict[str, Any]]) -> list[Draft]:
        drafts: list[Draft] = []
        for row in page:
            issued = rows.session_issued(row)
            if issued is None:
                continue
            out = self._source("oauth_access_tokens", row)
            stream = f"session:{row.get('id')}"
            out.add("session.issued", stream, None, issued)
            last_used = utc_timestamp(row.get("last_used_at"))
            if last_used is not None:
                out.add("session.used", stream, None, {"last_used_at": last_used}, occurred_at=last_used)
            drafts.extend(out.drafts)
        return drafts
