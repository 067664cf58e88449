"""Dify capture against real PostgreSQL: one database acts as Dify, another holds the event store.

Dify's side is driven with the SQL its services run (tests/fixtures/dify_schema.py); the
assertions read the event store back and hold every event to the contract.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from projector.capture import (
    CURSOR_NAME,
    CaptureBusyError,
    CaptureRunner,
    ChangeFeed,
    FeedPosition,
    SnapshotInProgressError,
    SnapshotRefusedError,
    Snapshotter,
    install,
    installed_tables,
    uninstall,
)
from projector.capture.connect import dify_engine
from projector.capture.lock import capture_lock
from projector.capture.tables import WATCHED_TABLES
from projector.capture.wakeup import CommitNotifications
from projector.cli.main import main
from projector.migrations import migrate
from projector.store import AppendPlan, Cursor, EventStore, create_engine_for
from shared.events import Event, StoredEvent, parse_event
from tests.fixtures.database import scratch_database
from tests.fixtures.dify_schema import DifyActor, create_dify_schema, graph_with_start

pytestmark = pytest.mark.integration

CHAT_CONFIG: dict[str, Any] = {
    "opening_statement": "Hello! How can I help?",
    "suggested_questions": ["What do you do?"],
    "suggested_questions_after_answer": {"enabled": True},
    "speech_to_text": {"enabled": False},
    "more_like_this": {"enabled": False},
    "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
    "user_input_form": [{"text-input": {"variable": "name", "label": "Name", "required": True}}],
    "file_upload": {"image": {"enabled": True, "number_limits": 2}},
}
START_VARIABLES = [
    {"variable": "topic", "label": "Topic", "type": "text-input", "required": True, "max_length": 48},
    {"variable": "tone", "label": "Tone", "type": "select", "required": False, "options": ["calm", "bold"]},
]
FEATURES = {"opening_statement": "Welcome", "file_upload": {"enabled": True, "allowed_file_types": ["image"]}}


def dify_value(dify: Engine, sql: str, **params: Any) -> Any:
    """One value read from the Dify database."""
    with dify.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


# --- databases ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dify_database() -> Iterator[str]:
    """A PostgreSQL database playing Dify's, made for this module and dropped after it."""
    # Dify's PostgreSQL runs in UTC; its naive timestamps rely on it.
    with scratch_database("readmodel_dify", timezone="UTC") as url:
        yield url


@pytest.fixture
def dify(dify_database: str) -> Iterator[Engine]:
    """The Dify database with a fresh schema and the capture installed."""
    engine = dify_engine(dify_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    create_dify_schema(engine)
    install(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def actor(dify: Engine) -> DifyActor:
    return DifyActor(dify)


@pytest.fixture
def store(fresh_postgres_url: str) -> Iterator[EventStore]:
    engine = create_engine_for(fresh_postgres_url)
    migrate(engine)
    try:
        yield EventStore(engine)
    finally:
        engine.dispose()


# --- capturing and reading back ------------------------------------------------------


def capture(dify: Engine, store: Any, batch_size: int = 7) -> None:
    """Capture every recorded change, in small batches so several batches are exercised.

    The settled horizon is cluster-wide: a transaction open in any database of the server
    (another test run) holds it back, so this waits until nothing is left to read.
    """
    runner = CaptureRunner(dify, store, batch_size=batch_size)
    feed = ChangeFeed()
    deadline = time.monotonic() + 120
    while True:
        # All at once, so batches are cut by size only, never by where the horizon stood.
        wait_settled(dify, runner.position())
        runner.run_until_idle()
        with dify.connect() as conn:
            if feed.pending(conn, runner.position()) == 0:
                return
        assert time.monotonic() < deadline, "recorded changes never settled"
        time.sleep(0.05)


def wait_settled(dify: Engine, after: FeedPosition | None = None) -> None:
    """Wait until every recorded change after `after` has settled (is readable by the feed)."""
    feed, after = ChangeFeed(), after or FeedPosition()
    deadline = time.monotonic() + 120
    while True:
        with dify.connect() as conn:
            if len(feed.read_settled(conn, after, 1_000_000)) == feed.pending(conn, after):
                return
        assert time.monotonic() < deadline, "recorded changes never settled"
        time.sleep(0.02)


def stored_events(store: EventStore) -> list[Event]:
    """Every event in the store, each checked against the contract, versions checked per stream."""
    events: list[StoredEvent] = list(store.iter_all())
    versions: dict[str, list[int]] = defaultdict(list)
    for stored in events:
        parse_event(stored.event.to_dict())
        versions[stored.event.stream].append(stored.event.version)
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{stream} has versions {seen}"
    ids = [stored.event.id for stored in events]
    assert len(ids) == len(set(ids))
    return [stored.event for stored in events]


def of_stream(events: Sequence[Event], stream: str) -> list[Event]:
    return [event for event in events if event.stream == stream]


def fold_names(events: Sequence[Event]) -> dict[str, Any]:
    """A minimal fold: what the read model would show for names, tags, members and sessions."""
    state: dict[str, Any] = {}
    for event in events:
        key = event.stream
        data = event.data
        if event.type in ("workspace.created", "account.created", "app.created"):
            state[key] = {"name": data["name"]}
            if event.type == "app.created":
                state[key]["tags"] = data["tags"]
        elif event.type in ("workspace.renamed", "account.updated", "app.updated") and "name" in data:
            state[key]["name"] = data["name"]
        elif event.type == "app.tags_set":
            state[key]["tags"] = data["tags"]
        elif event.type == "app.deleted":
            state.pop(key)
        elif event.type == "workspace.member_joined" or event.type == "workspace.member_role_changed":
            state[f"member:{event.workspace_id}:{data['account_id']}"] = data["role"]
            if data.get("current"):
                state[f"current:{data['account_id']}"] = event.workspace_id
        elif event.type == "workspace.member_made_current":
            state[f"current:{data['account_id']}"] = event.workspace_id
        elif event.type == "workspace.member_left":
            state.pop(f"member:{event.workspace_id}:{data['account_id']}")
            if state.get(f"current:{data['account_id']}") == event.workspace_id:
                state.pop(f"current:{data['account_id']}")
        elif event.type == "session.issued":
            state[key] = "live"
        elif event.type == "session.revoked":
            state[key] = "revoked"
    return state


def dify_state(dify: Engine) -> dict[str, Any]:
    """The same view computed from the Dify tables directly."""
    state: dict[str, Any] = {}
    with dify.connect() as conn:
        for table, kind in (("tenants", "workspace"), ("accounts", "account")):
            for row_id, name in conn.execute(text(f"SELECT id, name FROM {table}")):
                state[f"{kind}:{row_id}"] = {"name": name}
        for app_id, name in conn.execute(text("SELECT id, name FROM apps")):
            tags = conn.execute(
                text(
                    "SELECT t.name FROM tag_bindings b JOIN tags t ON t.id = b.tag_id "
                    "WHERE b.target_id = :app AND t.type = 'app' ORDER BY t.name",
                ),
                {"app": app_id},
            ).scalars()
            state[f"app:{app_id}"] = {"name": name, "tags": list(tags)}
        for tenant_id, account_id, role, current in conn.execute(
            text("SELECT tenant_id, account_id, role, current FROM tenant_account_joins"),
        ):
            state[f"member:{tenant_id}:{account_id}"] = role
            if current:
                state[f"current:{account_id}"] = str(tenant_id)
        for token_id, token_hash, revoked_at in conn.execute(
            text("SELECT id, token_hash, revoked_at FROM oauth_access_tokens"),
        ):
            if token_hash is not None:
                state[f"session:{token_id}"] = "revoked" if revoked_at is not None else "live"
            else:
                state[f"session:{token_id}"] = "revoked"
    return state


def change_rows(dify: Engine) -> list[dict[str, Any]]:
    with dify.connect() as conn:
        return [
            dict(row) for row in conn.execute(text("SELECT * FROM readmodel_changes ORDER BY id")).mappings()
        ]


class FailingStore:
    """The real store with one operation failing, standing for a crash at that point."""

    def __init__(self, store: EventStore, fail_on: str) -> None:
        self._store = store
        self._fail_on = fail_on

    def _maybe_fail(self, operation: str) -> None:
        if operation == self._fail_on:
            raise RuntimeError(f"crash before {operation} finished")

    def append(self, batch: Sequence[Event]) -> object:
        self._maybe_fail("before_append")
        result = self._store.append(batch)
        self._maybe_fail("after_append")  # the append committed; the process dies right after it
        return result

    def check(self, batch: Sequence[Event]) -> AppendPlan:
        return self._store.check(batch)

    def next_versions(self, streams: Sequence[str]) -> dict[str, int]:
        return self._store.next_versions(streams)

    def load_cursor(self, name: str) -> Cursor:
        return self._store.load_cursor(name)

    def save_cursor(self, name: str, cursor: Cursor) -> None:
        self._store.save_cursor(name, cursor)


def populate(actor: DifyActor) -> dict[str, str]:
    """A small but complete Dify: a workspace, members, apps of several modes, tags, tokens."""
    ids: dict[str, str] = {}
    ids["ws"] = actor.create_workspace("Acme")
    ids["ada"] = actor.create_account("Ada", "ada@example.com")
    ids["bob"] = actor.create_account("Bob", "bob@example.com", status="pending")
    actor.join(ids["ws"], ids["ada"], "owner", current=True)
    actor.join(ids["ws"], ids["bob"], "editor")
    ids["chat"] = actor.create_app(ids["ws"], "Support bot", "chat", ids["ada"], config=CHAT_CONFIG)
    ids["completion"] = actor.create_app(
        ids["ws"], "Writer", "completion", ids["ada"], config={"opening_statement": "Go"}
    )
    ids["agent"] = actor.create_app(ids["ws"], "Agent", "agent-chat", ids["bob"], config={})
    ids["flow"] = actor.create_app(ids["ws"], "Pipeline", "workflow", ids["ada"], description="Does things")
    actor.save_draft(ids["flow"], ids["ada"], graph_with_start(START_VARIABLES), FEATURES)
    ids["flow_published"] = actor.publish_workflow(ids["flow"], ids["ada"])
    ids["chatflow"] = actor.create_app(ids["ws"], "Chatflow", "advanced-chat", ids["bob"])
    ids["tag_ops"] = actor.create_tag(ids["ws"], "ops", ids["ada"])
    ids["tag_kb"] = actor.create_tag(ids["ws"], "knowledge", ids["ada"], tag_type="knowledge")
    actor.bind_tag(ids["ws"], ids["tag_ops"], ids["chat"], ids["ada"])
    ids["token"], _ = actor.mint_token(account_id=ids["ada"], email="ada@example.com")
    return ids


# --- install --------------------------------------------------------------------------


def test_install_twice_is_one_installation(dify: Engine, actor: DifyActor) -> None:
    install(dify)
    report = install(dify)
    assert report.missing == ()
    assert installed_tables(dify) == tuple(sorted(table.name for table in WATCHED_TABLES))
    actor.create_workspace("Acme")
    rows = change_rows(dify)
    assert [(row["table_name"], row["op"]) for row in rows] == [("tenants", "INSERT")]


def test_change_rows_carry_only_the_needed_columns(dify: Engine, actor: DifyActor) -> None:
    account = actor.create_account("Ada", "ada@example.com")
    actor.touch_account(account)  # Dify's last_active_at bump: no change row
    actor.rename_account(account, "Ada L.")
    rows = change_rows(dify)
    assert [row["op"] for row in rows] == ["INSERT", "UPDATE"]
    assert set(rows[0]["new_row"]) == {"id", "name", "email", "status", "avatar"}
    assert "password" not in str(rows)
    assert rows[1]["old_row"]["name"] == "Ada"
    assert rows[1]["new_row"]["name"] == "Ada L."
    assert rows[0]["txid"] < rows[1]["txid"]


def test_draft_saves_never_reach_the_change_table(dify: Engine, actor: DifyActor) -> None:
    ws = actor.create_workspace("Acme")
    ada = actor.create_account("Ada", "ada@example.com")
    app = actor.create_app(ws, "Flow", "workflow", ada)
    before = len(change_rows(dify))
    for round_ in range(3):
        actor.save_draft(app, ada, graph_with_start(START_VARIABLES[:1]), {"round": round_})
    assert len(change_rows(dify)) == before


def test_a_missing_table_is_reported_not_fatal(dify: Engine) -> None:
    uninstall(dify)
    with dify.begin() as conn:
        conn.exec_driver_sql("DROP TABLE oauth_access_tokens")
    report = install(dify)
    assert report.missing == ("oauth_access_tokens",)
    assert "oauth_access_tokens" not in installed_tables(dify)


def test_uninstall_removes_everything(dify: Engine, actor: DifyActor) -> None:
    actor.create_workspace("Acme")
    uninstall(dify)
    uninstall(dify)  # idempotent too
    assert installed_tables(dify) == ()
    with dify.connect() as conn:
        leftovers = conn.execute(
            text(
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'readmodel_%' "
                "UNION ALL SELECT count(*) FROM pg_proc WHERE proname LIKE 'readmodel_%'",
            ),
        ).scalars()
        assert list(leftovers) == [0, 0]
    actor.create_workspace("Still works without the capture")


# --- the change feed ------------------------------------------------------------------


def test_dify_actions_become_contract_events(dify: Engine, actor: DifyActor, store: EventStore) -> None:
    ids = populate(actor)
    ws, ada, bob = ids["ws"], ids["ada"], ids["bob"]
    # Look-ups (tag names, config content) read Dify as it is when a batch is read, so the
    # steps are captured one by one to see every intermediate state.
    capture(dify, store, batch_size=500)
    actor.save_model_config(ids["chat"], ada, {**CHAT_CONFIG, "opening_statement": "Hi again"})
    capture(dify, store)
    actor.enable_annotation_reply(ids["chat"], ada, 0.9, "openai", "text-embedding-3-small")
    actor.save_draft(ids["flow"], ada, graph_with_start(START_VARIABLES[:1]), {"opening_statement": "Draft"})
    actor.save_draft(ids["chatflow"], bob, graph_with_start([]), {"opening_statement": "Chatflow"})
    chatflow_published = actor.publish_workflow(ids["chatflow"], bob)
    capture(dify, store)
    tag_vip = actor.create_tag(ws, "vip", ada)
    actor.bind_tag(ws, tag_vip, ids["chat"], ada)
    actor.bind_tag(ws, tag_vip, ids["completion"], ada)
    actor.bind_tag(ws, ids["tag_kb"], str(uuid.uuid4()), ada)  # a dataset, not an app
    capture(dify, store)
    actor.unbind_tag(ids["tag_ops"], ids["chat"])
    capture(dify, store)
    actor.rename_tag(tag_vip, "VIP")
    capture(dify, store)
    actor.rename_account(bob, "Robert")
    actor.set_avatar(bob, "9a4b3c2d-upload-file")
    actor.touch_account(bob)
    actor.rename_workspace(ws, "Acme Inc")
    actor.change_role(ws, bob, "admin")
    actor.remove_member(ws, bob)
    actor.update_app(ids["agent"], name="Agent Smith", enable_api=False)
    actor.delete_app(ids["completion"])
    sso_token, _ = actor.mint_token(account_id=None, email="eve@corp.example", issuer="https://idp.example")
    actor.use_token(ids["token"])
    actor.revoke_token(ids["token"])
    actor.hard_expire_token(sso_token)
    capture(dify, store)

    events = stored_events(store)
    workspace = of_stream(events, f"workspace:{ws}")
    assert [e.type for e in workspace] == [
        "workspace.created",
        "workspace.member_joined",
        "workspace.member_joined",
        "workspace.renamed",
        "workspace.member_role_changed",
        "workspace.member_left",
    ]
    created = dify_value(dify, "SELECT created_at FROM tenants WHERE id = :id", id=ws)
    assert workspace[0].data == {
        "name": "Acme",
        "status": "normal",
        "created_at": created.replace(tzinfo=UTC).isoformat(),
    }
    assert workspace[1].data == {"account_id": ada, "role": "owner", "current": True}
    assert workspace[3].data == {"name": "Acme Inc"}
    assert workspace[4].data == {"account_id": bob, "role": "admin"}
    assert workspace[5].data == {"account_id": bob}

    assert [(e.type, e.data) for e in of_stream(events, f"account:{bob}")] == [
        ("account.created", {"name": "Bob", "email": "bob@example.com", "status": "pending", "avatar": None}),
        ("account.updated", {"name": "Robert"}),
        ("account.updated", {"avatar": "9a4b3c2d-upload-file"}),
    ]

    chat = of_stream(events, f"app:{ids['chat']}")
    assert [e.type for e in chat] == [
        "app.created",
        "app.model_config_published",
        "app.updated",
        "app.model_config_published",
        "app.model_config_published",
        "app.tags_set",
        "app.tags_set",
        "app.tags_set",
    ]
    created = chat[0].data
    assert created["created_by"] == ada
    assert chat[0].workspace_id == ws
    assert created["mode"] == "chat"
    assert created["status"] == "normal"
    assert created["enable_api"] is True
    assert created["is_universal"] is False
    assert created["tags"] == ["ops"]
    assert created["created_at"].endswith("+00:00")
    config = chat[1].data
    assert config["opening_statement"] == CHAT_CONFIG["opening_statement"]
    assert config["suggested_questions"] == ["What do you do?"]
    assert config["user_input_form"] == CHAT_CONFIG["user_input_form"]
    assert config["file_upload"] == CHAT_CONFIG["file_upload"]
    assert config["retriever_resource"] is None  # not set in Dify: the contract's default applies
    assert config["annotation_reply"] == {"enabled": False}
    assert list(chat[2].data) == ["updated_at"]
    assert chat[3].data["opening_statement"] == "Hi again"
    assert chat[4].data["annotation_reply"]["enabled"] is True
    assert chat[4].data["annotation_reply"]["score_threshold"] == 0.9
    assert chat[4].data["annotation_reply"]["embedding_model"] == {
        "embedding_provider_name": "openai",
        "embedding_model_name": "text-embedding-3-small",
    }
    assert [e.data["tags"] for e in chat[5:]] == [["ops", "vip"], ["vip"], ["VIP"]]

    completion = of_stream(events, f"app:{ids['completion']}")
    assert [e.type for e in completion] == [
        "app.created",
        "app.model_config_published",
        "app.tags_set",
        "app.tags_set",
        "app.deleted",
    ]
    assert completion[-1].data == {}

    flow = of_stream(events, f"app:{ids['flow']}")
    # The draft edit after publishing is not an event.
    assert [e.type for e in flow] == ["app.created", "app.updated", "app.workflow_published"]
    assert flow[2].data == {
        "workflow_id": ids["flow_published"],
        "features": FEATURES,
        "start_variables": START_VARIABLES,
    }
    chatflow = of_stream(events, f"app:{ids['chatflow']}")
    assert [e.type for e in chatflow] == ["app.created", "app.updated", "app.workflow_published"]
    assert chatflow[2].data["workflow_id"] == chatflow_published
    assert chatflow[2].data["features"] == {"opening_statement": "Chatflow"}

    agent = of_stream(events, f"app:{ids['agent']}")
    assert [e.type for e in agent] == ["app.created", "app.model_config_published", "app.updated"]
    assert {k: v for k, v in agent[-1].data.items() if k != "updated_at"} == {
        "name": "Agent Smith",
        "enable_api": False,
    }

    session = of_stream(events, f"session:{ids['token']}")
    assert [e.type for e in session] == ["session.issued", "session.used", "session.revoked"]
    issued = session[0].data
    assert issued["prefix"] == "dfoa_"
    assert issued["subject_type"] == "account"
    assert issued["account_id"] == ada
    assert issued["client_id"] == "difyctl"
    assert issued["device_label"] == "laptop"
    with dify.connect() as conn:
        stored_hash = conn.execute(
            text("SELECT token_hash FROM oauth_access_tokens WHERE id = :id"),
            {"id": ids["token"]},
        ).scalar()
    assert issued["token_hash"] == stored_hash
    sso = of_stream(events, f"session:{sso_token}")
    assert [e.type for e in sso] == ["session.issued", "session.revoked"]
    assert sso[0].data["subject_type"] == "external_sso"
    assert sso[0].data["account_id"] is None
    assert sso[0].data["subject_issuer"] == "https://idp.example"

    assert fold_names(events) == dify_state(dify)
    assert change_rows(dify) == []  # consumed rows are pruned


def test_switching_the_current_workspace(dify: Engine, actor: DifyActor, store: EventStore) -> None:
    acme, beta = actor.create_workspace("Acme"), actor.create_workspace("Beta")
    ada = actor.create_account("Ada", "ada@example.com")
    actor.join(acme, ada, "owner", current=True)
    actor.join(beta, ada, "normal")
    capture(dify, store)
    actor.switch_workspace(ada, beta)
    capture(dify, store)
    assert fold_names(stored_events(store))[f"current:{ada}"] == beta
    # Two switches read in one batch: the later one is the last event.
    actor.switch_workspace(ada, acme)
    actor.switch_workspace(ada, beta)
    actor.switch_workspace(ada, beta)  # already current: no change row, no event
    capture(dify, store, batch_size=500)

    events = stored_events(store)
    switches = [(e.stream, e.data) for e in events if e.type == "workspace.member_made_current"]
    assert switches == [
        (f"workspace:{beta}", {"account_id": ada}),
        (f"workspace:{acme}", {"account_id": ada}),
        (f"workspace:{beta}", {"account_id": ada}),
    ]
    assert [e.type for e in of_stream(events, f"workspace:{acme}")] == [
        "workspace.created",
        "workspace.member_joined",
        "workspace.member_made_current",
    ]
    assert fold_names(events) == dify_state(dify)
    assert dify_state(dify)[f"current:{ada}"] == beta


def test_no_plaintext_token_anywhere(dify: Engine, actor: DifyActor, store: EventStore) -> None:
    ws = actor.create_workspace("Acme")
    ada = actor.create_account("Ada", "ada@example.com")
    actor.join(ws, ada, "owner", current=True)
    _, token = actor.mint_token(account_id=ada, email="ada@example.com")
    capture(dify, store)
    dump = str([event.to_dict() for event in stored_events(store)])
    assert token not in dump
    assert token[5:] not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_token_times_with_a_time_zone_are_read_as_instants(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    # Dify's oauth_access_tokens columns are `timestamp with time zone`: the trigger renders
    # them with the offset of the writing session's time zone, whatever that is.
    ada = actor.create_account("Ada", "ada@example.com")
    created = datetime(2026, 12, 6, 3, 55, 46, 788436, tzinfo=UTC)
    with dify.begin() as conn:
        conn.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
        token_id = conn.execute(
            text(
                "INSERT INTO oauth_access_tokens (subject_email, subject_issuer, account_id, client_id, "
                "device_label, prefix, token_hash, created_at, expires_at) VALUES ('ada@example.com', "
                "'dify:account', :account, 'difyctl', 'laptop', 'dfoa_', :hash, :created, :expires) "
                "RETURNING id",
            ),
            {"account": ada, "hash": "ab" * 32, "created": created, "expires": created + timedelta(days=30)},
        ).scalar_one()
    with dify.begin() as conn:
        conn.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        conn.execute(
            text("UPDATE oauth_access_tokens SET last_used_at = :at WHERE id = :id"),
            {"at": created + timedelta(hours=1), "id": token_id},
        )
    recorded = [row["new_row"] for row in change_rows(dify) if row["table_name"] == "oauth_access_tokens"]
    assert recorded[0]["created_at"] == "2026-12-06T09:25:46.788436+05:30"
    assert recorded[1]["last_used_at"] == "2026-12-05T23:55:46.788436-05:00"
    capture(dify, store)
    session = of_stream(stored_events(store), f"session:{token_id}")
    assert [e.type for e in session] == ["session.issued", "session.used"]
    assert session[0].data["created_at"] == "2026-12-06T03:55:46.788436+00:00"
    assert session[0].data["expires_at"] == "2027-01-05T03:55:46.788436+00:00"
    assert session[1].data["last_used_at"] == "2026-12-06T04:55:46.788436+00:00"


def test_a_late_committing_transaction_is_not_skipped(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    early = dify.connect()
    transaction = early.begin()
    early.execute(text("INSERT INTO accounts (name, email) VALUES ('Early', 'early@example.com')"))
    late = actor.create_account("Late", "late@example.com")  # a later transaction commits first
    CaptureRunner(dify, store).run_until_idle()
    # The open transaction holds the horizon: nothing after it is read yet.
    assert stored_events(store) == []
    transaction.commit()
    early.close()
    capture(dify, store)
    names = [e.data["name"] for e in stored_events(store)]
    assert names == ["Early", "Late"]
    assert late in {e.stream_id for e in stored_events(store)}


def test_updates_to_rows_from_before_the_capture_are_left_out(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    uninstall(dify)
    account = actor.create_account("Ada", "ada@example.com")
    install(dify)
    actor.rename_account(account, "Ada L.")
    runner = CaptureRunner(dify, store)
    wait_settled(dify)
    report = runner.step()
    assert report is not None
    assert report.without_stream == 1
    assert stored_events(store) == []


@pytest.mark.parametrize(
    ("crash_at", "batch_after"), [("before_append", 10), ("after_append", 10), ("after_append", 4)]
)
def test_a_crash_loses_and_duplicates_nothing(
    dify: Engine, actor: DifyActor, store: EventStore, crash_at: str, batch_after: int
) -> None:
    ids = populate(actor)
    crashing = CaptureRunner(dify, FailingStore(store, crash_at), batch_size=10)
    wait_settled(dify)
    with pytest.raises(RuntimeError, match="crash"):
        crashing.step()
    if crash_at == "before_append":
        assert store.count() == 0  # read and translated, then lost
    else:
        assert store.count() > 0  # appended, but the cursor was never saved
    assert store.load_cursor(CURSOR_NAME).position == 0
    actor.rename_account(ids["ada"], "Ada Lovelace")
    # A fresh process starts again from the saved cursor, maybe with another batch size.
    capture(dify, store, batch_size=batch_after)
    events = stored_events(store)
    per_type = Counter(e.type for e in events)
    assert per_type["app.created"] == 5
    assert per_type["account.created"] == 2
    assert per_type["workspace.member_joined"] == 2
    assert per_type["session.issued"] == 1
    assert fold_names(events) == dify_state(dify)
    assert [e.data for e in of_stream(events, f"account:{ids['ada']}")][1:] == [{"name": "Ada Lovelace"}]


def test_only_one_capture_runs_at_a_time(dify: Engine, store: EventStore) -> None:
    with capture_lock(dify), pytest.raises(CaptureBusyError):
        CaptureRunner(dify, store).run_until_idle()


def test_run_forever_stops_when_asked(dify: Engine, actor: DifyActor, store: EventStore) -> None:
    actor.create_workspace("Acme")
    stop = threading.Event()
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        stop.set()

    total = CaptureRunner(dify, store, progress=progress).run_forever(stop, poll_seconds=0.01)
    assert total.events == 1
    assert lines
    assert lines[0].startswith("capture: 1 changes -> 1 events")


# --- waking on commit -----------------------------------------------------------------

# Far longer than any wait below: a test that passes did not wait for the poll.
LONG_POLL = 600.0


def eventually(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@contextmanager
def following(dify: Engine, store: EventStore, **options: Any) -> Iterator[CaptureRunner]:
    """`source run` in a thread, woken by commit notifications, polling only every LONG_POLL."""
    runner = CaptureRunner(dify, store)
    stop = threading.Event()
    thread = threading.Thread(
        target=runner.run_forever,
        args=(stop,),
        kwargs={"poll_seconds": LONG_POLL, "wakeups": CommitNotifications(dify), **options},
    )
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def names_in(store: EventStore) -> list[str]:
    return [e.data["name"] for e in stored_events(store) if "name" in e.data]


def test_a_commit_notifies_the_listener(dify: Engine, actor: DifyActor) -> None:
    wakeups = CommitNotifications(dify)
    other_schema = CommitNotifications(dify, schema="elsewhere")
    never = threading.Event()
    try:
        # The first wait starts listening and says to read once (a commit may have come before).
        assert wakeups.wait(0.05, never) is True
        assert other_schema.wait(0.05, never) is True
        assert wakeups.wait(0.05, never) is False
        actor.create_workspace("Acme")
        assert wakeups.wait(30, never) is True
        assert other_schema.wait(0.3, never) is False  # another schema's changes do not wake it
        # A rolled-back change notifies nobody.
        with dify.connect() as conn:
            conn.execute(text("INSERT INTO tenants (name, plan) VALUES ('Gone', 'basic')"))
            conn.rollback()
        assert wakeups.wait(0.3, never) is False
    finally:
        wakeups.close()
        other_schema.close()


def test_a_commit_wakes_the_capture_before_the_poll(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    with following(dify, store):
        for name in ("Acme", "Beta", "Gamma"):
            actor.create_workspace(name)
            eventually(lambda name=name: name in names_in(store), f"{name} was not captured on its commit")


def test_a_commit_held_behind_the_horizon_is_read_once_it_settles(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    # An older transaction that holds the horizon and ends without notifying (rolled back).
    older = dify.connect()
    older_tx = older.begin()
    older.execute(text("INSERT INTO tenants (name, plan) VALUES ('Older', 'basic')"))
    with following(dify, store) as runner:
        actor.create_workspace("Acme")
        eventually(runner.unsettled, "the commit never reached the change table")
        time.sleep(0.1)  # the capture looked and found it behind the horizon
        assert names_in(store) == []
        older_tx.rollback()
        older.close()
        eventually(lambda: names_in(store) == ["Acme"], "the settled change was left for the poll")


def test_a_lost_listener_reconnects(dify: Engine, actor: DifyActor, store: EventStore) -> None:
    listeners = "SELECT {} FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"

    def listening() -> bool:
        with dify.connect() as conn:
            return conn.execute(text(listeners.format("count(*)"))).scalar_one() == 1

    with following(dify, store):
        eventually(listening, "the capture never listened")
        with dify.connect() as conn:
            conn.execute(text(listeners.format("pg_terminate_backend(pid)")))
        # Committed while the listener is gone or coming back: read once it listens again.
        actor.create_workspace("Acme")
        eventually(lambda: names_in(store) == ["Acme"], "a change during the reconnect was left for the poll")
        eventually(listening, "the capture did not listen again")
        actor.create_workspace("Beta")
        eventually(lambda: names_in(store) == ["Acme", "Beta"], "capture stopped waking on commits")


# --- snapshot -------------------------------------------------------------------------


def test_snapshot_then_stream_loses_and_duplicates_nothing(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    # A Dify with history: its change rows exist (the capture was installed) but were never read.
    ids = populate(actor)
    actor.rename_account(ids["bob"], "Robert")
    actor.save_model_config(ids["chat"], ids["ada"], {**CHAT_CONFIG, "opening_statement": "v2"})

    # A transaction that is open while the snapshot is taken and commits after it.
    open_conn = dify.connect()
    open_tx = open_conn.begin()
    open_conn.execute(text("UPDATE apps SET name = 'Pipeline v2' WHERE id = :id"), {"id": ids["flow"]})

    # Changes committed while the snapshot is being read (after its first statement).
    concurrent: list[str] = []

    def during_snapshot(line: str) -> None:
        if line.startswith("snapshot: accounts") and not concurrent:
            concurrent.append(actor.create_account("Carol", "carol@example.com"))
            actor.rename_account(ids["ada"], "Ada Lovelace")
            actor.bind_tag(ids["ws"], ids["tag_ops"], ids["agent"], ids["ada"])
            actor.revoke_token(ids["token"])

    report = Snapshotter(dify, store, batch_size=3, progress=during_snapshot).take()
    assert concurrent
    assert report.events > 0
    open_tx.commit()
    open_conn.close()

    snapshot_events = stored_events(store)
    assert "Carol" not in str([e.data for e in snapshot_events])
    assert of_stream(snapshot_events, f"account:{ids['bob']}")[0].data["name"] == "Robert"
    chat = of_stream(snapshot_events, f"app:{ids['chat']}")
    assert [e.type for e in chat] == ["app.created", "app.model_config_published"]
    assert chat[1].data["opening_statement"] == "v2"
    assert chat[0].data["tags"] == ["ops"]

    capture(dify, store)
    events = stored_events(store)
    assert fold_names(events) == dify_state(dify)
    per_type = Counter(e.type for e in events)
    assert per_type["workspace.created"] == 1
    assert per_type["account.created"] == 3
    assert per_type["app.created"] == 5
    assert per_type["session.issued"] == 1
    # Exactly the changes not visible to the snapshot came through the feed.
    fed = [e for e in events if e not in snapshot_events]
    assert sorted((e.type, e.stream) for e in fed) == sorted(
        [
            ("account.created", f"account:{concurrent[0]}"),
            ("account.updated", f"account:{ids['ada']}"),
            ("app.tags_set", f"app:{ids['agent']}"),
            ("session.revoked", f"session:{ids['token']}"),
            ("app.updated", f"app:{ids['flow']}"),
        ],
    )


def test_snapshot_progress_counts_each_table_and_the_whole(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    # 1 workspace, 2 accounts, 2 memberships, 5 apps (4 with a published config or workflow), a token
    populate(actor)
    lines: list[str] = []
    report = Snapshotter(dify, store, batch_size=2, progress=lines.append).take()
    assert lines[:6] == [
        "snapshot: tenants: 1 rows -> 1 events so far in this table (all tables: 1 rows -> 1 events)",
        "snapshot: accounts: 2 rows -> 2 events so far in this table (all tables: 3 rows -> 3 events)",
        "snapshot: tenant_account_joins: 2 rows -> 2 events so far in this table "
        "(all tables: 5 rows -> 5 events)",
        "snapshot: apps: 2 rows -> 4 events so far in this table (all tables: 7 rows -> 9 events)",
        "snapshot: apps: 4 rows -> 8 events so far in this table (all tables: 9 rows -> 13 events)",
        "snapshot: apps: 5 rows -> 9 events so far in this table (all tables: 10 rows -> 14 events)",
    ]
    assert lines[6] == (
        "snapshot: oauth_access_tokens: 1 rows -> 1 events so far in this table "
        "(all tables: 11 rows -> 15 events)"
    )
    assert lines[7].startswith("snapshot: done (11 rows, 15 events); snapshot ")
    assert (report.rows, report.events) == (11, 15)


def test_snapshot_is_taken_once(dify: Engine, actor: DifyActor, store: EventStore) -> None:
    populate(actor)
    Snapshotter(dify, store).take()
    with pytest.raises(SnapshotRefusedError, match="already done"):
        Snapshotter(dify, store).take()


def test_snapshot_refuses_after_the_feed_was_captured(
    dify: Engine, actor: DifyActor, store: EventStore
) -> None:
    populate(actor)
    capture(dify, store)
    with pytest.raises(SnapshotRefusedError, match="already been captured"):
        Snapshotter(dify, store).take()


def test_snapshot_refuses_a_store_with_the_same_streams_and_can_be_retried(
    dify: Engine, actor: DifyActor, fresh_postgres_url: str
) -> None:
    populate(actor)
    engine = create_engine_for(fresh_postgres_url)
    migrate(engine)
    try:
        store = EventStore(engine)
        uninstall(dify)
        install(dify)
        # The same Dify captured into this store before, under another capture installation.
        Snapshotter(dify, store).take()
        uninstall(dify)
        install(dify)
        with pytest.raises(SnapshotRefusedError, match="already has events"):
            Snapshotter(dify, store).take()
        # Nothing reached the store on that attempt, so the feed is not left waiting.
        assert CaptureRunner(dify, store).step() is None
    finally:
        engine.dispose()


def test_the_feed_waits_for_an_unfinished_snapshot(dify: Engine, store: EventStore) -> None:
    with dify.begin() as conn:
        conn.execute(text("INSERT INTO readmodel_snapshot (name, state) VALUES ('capture', 'started')"))
    with pytest.raises(SnapshotInProgressError):
        CaptureRunner(dify, store).step()


# --- the command ----------------------------------------------------------------------


def test_source_command_end_to_end(dify: Engine, actor: DifyActor, fresh_postgres_url: str, capsys) -> None:
    env = {"READMODEL_DATABASE_URL": fresh_postgres_url}
    url = dify.url.render_as_string(hide_password=False)

    def readmodel(*argv: str) -> int:
        return main(["source", *argv, "--dify-database-url", url], env)

    assert readmodel("uninstall") == 0
    assert readmodel("install") == 0
    assert readmodel("install") == 0
    populate(actor)
    assert readmodel("snapshot", "--batch-size", "2") == 0
    actor.create_account("Dan", "dan@example.com")
    # `--once` reads what has settled: a transaction open elsewhere on the server can hold it.
    err = ""
    deadline = time.monotonic() + 60
    while "capture: 1 changes" not in err:
        assert time.monotonic() < deadline, "Dan's change never settled"
        assert readmodel("run", "--once") == 0
        err += capsys.readouterr().err
    assert "installed the capture on 11 tables" in err
    assert "snapshot: done" in err
    assert "capture: 1 changes -> 1 events" in err
    engine = create_engine_for(fresh_postgres_url)
    try:
        events = stored_events(EventStore(engine))
    finally:
        engine.dispose()
    assert fold_names(events) == dify_state(dify)
    assert readmodel("snapshot") == 2  # refused: a snapshot was taken already
    assert "already been captured" in capsys.readouterr().err
    assert readmodel("uninstall") == 0
    assert installed_tables(dify) == ()


def test_source_command_rejects_a_non_postgres_url(fresh_postgres_url: str, capsys) -> None:
    env = {"READMODEL_DATABASE_URL": fresh_postgres_url}
    assert main(["source", "install", "--dify-database-url", "sqlite:///dify.db"], env) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err
