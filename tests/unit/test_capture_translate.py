"""Translation of Dify row changes into contract events, against an in-memory Dify."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from projector.capture.changes import DELETE, INSERT, UPDATE, Change
from projector.capture.drafts import Draft
from projector.capture.translate import translate
from shared.events import parse_event

WS = "11111111-1111-4111-8111-111111111111"
ACCOUNT = "22222222-2222-4222-8222-222222222222"
APP = "33333333-3333-4333-8333-333333333333"
CONFIG = "44444444-4444-4444-8444-444444444444"
WORKFLOW = "55555555-5555-4555-8555-555555555555"
TAG = "66666666-6666-4666-8666-666666666666"
TOKEN = "77777777-7777-4777-8777-777777777777"
HASH = "ab" * 32
AT = datetime(2026, 4, 27, 10, 0, tzinfo=UTC)


class InMemoryDify:
    """Answers the translation's look-ups from dictionaries (a fake of `DifyState`)."""

    def __init__(self) -> None:
        self.apps_by_id: dict[str, dict[str, Any]] = {}
        self.tags_by_app: dict[str, list[str]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.workflows_by_id: dict[str, dict[str, Any]] = {}
        self.annotations: dict[str, dict[str, Any]] = {}
        self.bindings: dict[str, list[str]] = {}
        self.collection_users: dict[str, list[str]] = {}
        self.workflow_reads = 0

    def apps(self, app_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.apps_by_id[i] for i in app_ids if i in self.apps_by_id}

    def app_tags(self, apps: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
        return {str(app["id"]): list(self.tags_by_app.get(str(app["id"]), [])) for app in apps}

    def model_configs(self, config_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.configs[i] for i in config_ids if i in self.configs}

    def annotation_settings(self, app_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.annotations[i] for i in app_ids if i in self.annotations}

    def workflows(self, workflow_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.workflow_reads += len(workflow_ids)
        return {i: self.workflows_by_id[i] for i in workflow_ids if i in self.workflows_by_id}

    def apps_bound_to_tag(self, tag_id: str) -> list[str]:
        return list(self.bindings.get(tag_id, []))

    def apps_using_collection_binding(self, binding_id: str) -> list[str]:
        return list(self.collection_users.get(binding_id, []))


_ids = iter(range(1, 10_000))


def change(
    table: str, op: str, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None
) -> Change:
    change_id = next(_ids)
    row = new if new is not None else old
    assert row is not None
    return Change(
        id=change_id,
        txid=1000 + change_id,
        table=table,
        op=op,
        row_id=str(row.get("id")),
        old=old,
        new=new,
        captured_at=AT,
    )


def app_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": APP,
        "tenant_id": WS,
        "name": "Support bot",
        "description": "Answers questions",
        "mode": "chat",
        "status": "normal",
        "enable_api": True,
        "is_universal": False,
        "app_model_config_id": None,
        "workflow_id": None,
        "created_by": ACCOUNT,
        "created_at": "2026-04-27T09:00:00",
        "updated_at": "2026-04-27T09:00:00.250000",
    }
    row.update(overrides)
    return row


def config_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": CONFIG,
        "app_id": APP,
        "opening_statement": "Hello!",
        "suggested_questions": orjson.dumps(["What can you do?"]).decode(),
        "suggested_questions_after_answer": '{"enabled": true}',
        "speech_to_text": '{"enabled": false}',
        "text_to_speech": None,
        "retriever_resource": None,
        "more_like_this": '{"enabled": false}',
        "sensitive_word_avoidance": '{"enabled": false, "type": "", "configs": []}',
        "user_input_form": orjson.dumps([{"text-input": {"variable": "name", "label": "Name"}}]).decode(),
        "file_upload": "not json",
    }
    row.update(overrides)
    return row


def workflow_row(**overrides: Any) -> dict[str, Any]:
    graph = {
        "nodes": [
            {"id": "1", "data": {"type": "llm"}},
            {
                "id": "2",
                "data": {
                    "type": "start",
                    "variables": [
                        {"variable": "topic", "label": "Topic", "type": "text-input", "required": True},
                        {"label": "broken: no variable name", "type": "text-input"},
                    ],
                },
            },
        ],
    }
    row: dict[str, Any] = {
        "id": WORKFLOW,
        "app_id": APP,
        "tenant_id": WS,
        "type": "workflow",
        "version": "2026-04-27 10:00:00.000001",
        "graph": orjson.dumps(graph).decode(),
        "features": orjson.dumps({"opening_statement": "Hi", "file_upload": {"enabled": True}}).decode(),
    }
    row.update(overrides)
    return row


def token_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": TOKEN,
        "subject_email": "ada@example.com",
        "subject_issuer": None,
        "account_id": ACCOUNT,
        "client_id": "difyctl",
        "device_label": "laptop",
        "prefix": "dfoa_",
        "token_hash": HASH.upper(),
        "created_at": "2026-04-27T10:00:00",
        "expires_at": "2026-05-27T10:00:00",
        "last_used_at": None,
        "revoked_at": None,
    }
    row.update(overrides)
    return row


def valid(drafts: list[Draft]) -> list[Draft]:
    """Every draft must be a contract event once it has a version."""
    for draft in drafts:
        parse_event(draft.with_version(1).to_dict())
    return drafts


def types(drafts: list[Draft]) -> list[str]:
    return [draft.type for draft in drafts]


@pytest.fixture
def dify() -> InMemoryDify:
    return InMemoryDify()


class TestWorkspacesAndAccounts:
    def test_tenant_insert_rename_and_archive(self, dify: InMemoryDify) -> None:
        tenant = {"id": WS, "name": "Acme", "status": "normal", "created_at": "2026-04-27T09:59:58"}
        drafts = valid(
            translate(
                [
                    change("tenants", INSERT, new=tenant),
                    change("tenants", UPDATE, old=tenant, new={**tenant, "name": "Acme Inc"}),
                    change("tenants", UPDATE, old=tenant, new={**tenant, "status": "archive"}),
                ],
                dify,
            ),
        )
        assert types(drafts) == ["workspace.created", "workspace.renamed", "workspace.status_changed"]
        assert drafts[2].data == {"status": "archive"}
        assert drafts[0].stream == f"workspace:{WS}"
        assert drafts[0].workspace_id == WS
        assert drafts[0].data == {
            "name": "Acme",
            "status": "normal",
            "created_at": "2026-04-27T09:59:58+00:00",
        }
        assert drafts[1].data == {"name": "Acme Inc"}
        assert drafts[0].occurred_at == "2026-04-27T10:00:00+00:00"

    def test_account_update_carries_only_changed_keys(self, dify: InMemoryDify) -> None:
        account = {
            "id": ACCOUNT,
            "name": "Ada",
            "email": "ada@example.com",
            "status": "pending",
            "avatar": None,
        }
        with_avatar = {**account, "avatar": "upload-file-id"}
        drafts = valid(
            translate(
                [
                    change("accounts", INSERT, new=account),
                    change(
                        "accounts", UPDATE, old=account, new={**account, "name": "Ada L.", "status": "active"}
                    ),
                    change("accounts", UPDATE, old=account, new=with_avatar),
                    change("accounts", UPDATE, old=with_avatar, new=account),
                ],
                dify,
            ),
        )
        assert types(drafts) == ["account.created", "account.updated", "account.updated", "account.updated"]
        assert drafts[0].workspace_id is None
        assert drafts[0].data == {
            "name": "Ada",
            "email": "ada@example.com",
            "status": "pending",
            "avatar": None,
        }
        assert drafts[1].data == {"name": "Ada L.", "status": "active"}
        assert [d.data for d in drafts[2:]] == [{"avatar": "upload-file-id"}, {"avatar": None}]

    def test_membership_join_role_change_and_leave(self, dify: InMemoryDify) -> None:
        join = {"id": "j1", "tenant_id": WS, "account_id": ACCOUNT, "role": "editor", "current": True}
        drafts = valid(
            translate(
                [
                    change("tenant_account_joins", INSERT, new=join),
                    change("tenant_account_joins", UPDATE, old=join, new={**join, "role": "admin"}),
                    change("tenant_account_joins", UPDATE, old=join, new={**join, "current": False}),
                    change("tenant_account_joins", DELETE, old=join),
                ],
                dify,
            ),
        )
        assert types(drafts) == [
            "workspace.member_joined",
            "workspace.member_role_changed",
            "workspace.member_left",
        ]
        assert drafts[0].data == {"account_id": ACCOUNT, "role": "editor", "current": True}
        assert drafts[1].data == {"account_id": ACCOUNT, "role": "admin"}
        assert drafts[2].data == {"account_id": ACCOUNT}

    def test_a_switch_makes_the_new_workspace_current(self, dify: InMemoryDify) -> None:
        # Dify's switch: the chosen join's flag set, the old one's cleared, in one transaction.
        other = "88888888-8888-4888-8888-888888888888"
        chosen = {"id": "j1", "tenant_id": WS, "account_id": ACCOUNT, "role": "editor", "current": False}
        left = {"id": "j2", "tenant_id": other, "account_id": ACCOUNT, "role": "owner", "current": True}
        drafts = valid(
            translate(
                [
                    change("tenant_account_joins", UPDATE, old=chosen, new={**chosen, "current": True}),
                    change("tenant_account_joins", UPDATE, old=left, new={**left, "current": False}),
                    # Role and flag in one update: both are carried.
                    change(
                        "tenant_account_joins",
                        UPDATE,
                        old={**left, "current": False},
                        new={**left, "role": "admin", "current": True},
                    ),
                ],
                dify,
            ),
        )
        assert [(d.type, d.stream, d.data) for d in drafts] == [
            ("workspace.member_made_current", f"workspace:{WS}", {"account_id": ACCOUNT}),
            ("workspace.member_role_changed", f"workspace:{other}", {"account_id": ACCOUNT, "role": "admin"}),
            ("workspace.member_made_current", f"workspace:{other}", {"account_id": ACCOUNT}),
        ]
        assert drafts[0].workspace_id == WS


class TestApps:
    def test_insert_with_config_already_pointed(self, dify: InMemoryDify) -> None:
        row = app_row(app_model_config_id=CONFIG)
        dify.apps_by_id[APP] = row
        dify.tags_by_app[APP] = ["ops", "support"]
        dify.configs[CONFIG] = config_row()
        drafts = valid(translate([change("apps", INSERT, new=row)], dify))
        assert types(drafts) == ["app.created", "app.model_config_published"]
        created = drafts[0].data
        assert created["tags"] == ["ops", "support"]
        assert created["created_at"] == "2026-04-27T09:00:00+00:00"
        assert created["updated_at"] == "2026-04-27T09:00:00.250000+00:00"
        config = drafts[1].data
        assert config["opening_statement"] == "Hello!"
        assert config["suggested_questions"] == ["What can you do?"]
        assert config["user_input_form"] == [{"text-input": {"variable": "name", "label": "Name"}}]
        assert config["file_upload"] is None  # undecodable text takes the contract's default
        assert config["annotation_reply"] == {"enabled": False}

    def test_update_carries_changed_keys_and_repointing_publishes(self, dify: InMemoryDify) -> None:
        old = app_row(app_model_config_id="99999999-9999-4999-8999-999999999999")
        new = app_row(app_model_config_id=CONFIG, name="Helpdesk", updated_at="2026-04-28T08:00:00")
        dify.apps_by_id[APP] = new
        dify.configs[CONFIG] = config_row(opening_statement="Hi there")
        dify.annotations[APP] = {
            "id": "a1",
            "score_threshold": 0.8,
            "provider_name": "openai",
            "model_name": "text-embedding-3-small",
        }
        drafts = valid(translate([change("apps", UPDATE, old=old, new=new)], dify))
        assert types(drafts) == ["app.updated", "app.model_config_published"]
        assert drafts[0].data == {"name": "Helpdesk", "updated_at": "2026-04-28T08:00:00+00:00"}
        assert drafts[1].data["opening_statement"] == "Hi there"
        assert drafts[1].data["annotation_reply"] == {
            "id": "a1",
            "enabled": True,
            "score_threshold": 0.8,
            "embedding_model": {
                "embedding_provider_name": "openai",
                "embedding_model_name": "text-embedding-3-small",
            },
        }

    def test_workflow_publish_takes_features_and_start_variables(self, dify: InMemoryDify) -> None:
        old = app_row(mode="workflow")
        new = app_row(mode="workflow", workflow_id=WORKFLOW)
        dify.apps_by_id[APP] = new
        dify.workflows_by_id[WORKFLOW] = workflow_row()
        drafts = valid(translate([change("apps", UPDATE, old=old, new=new)], dify))
        assert types(drafts) == ["app.workflow_published"]
        assert drafts[0].data == {
            "workflow_id": WORKFLOW,
            "features": {"opening_statement": "Hi", "file_upload": {"enabled": True}},
            "start_variables": [
                {"variable": "topic", "label": "Topic", "type": "text-input", "required": True},
            ],
        }

    def test_config_is_not_published_for_workflow_modes(self, dify: InMemoryDify) -> None:
        row = app_row(mode="advanced-chat", app_model_config_id=CONFIG)
        dify.apps_by_id[APP] = row
        dify.configs[CONFIG] = config_row()
        assert types(translate([change("apps", INSERT, new=row)], dify)) == ["app.created"]

    def test_published_workflow_edited_in_place_republishes_only_on_content(self, dify: InMemoryDify) -> None:
        dify.apps_by_id[APP] = app_row(mode="workflow", workflow_id=WORKFLOW)
        old = workflow_row()
        renamed = {**old, "version": old["version"]}  # marked_name edits change no captured column
        new_features = {**old, "features": '{"opening_statement": "Changed"}'}
        drafts = valid(
            translate(
                [
                    change("workflows", UPDATE, old=old, new=renamed),
                    change("workflows", UPDATE, old=old, new=new_features),
                ],
                dify,
            ),
        )
        assert types(drafts) == ["app.workflow_published"]
        assert drafts[0].data["features"] == {"opening_statement": "Changed"}

    def test_an_older_workflow_version_changing_is_not_an_event(self, dify: InMemoryDify) -> None:
        dify.apps_by_id[APP] = app_row(mode="workflow", workflow_id="88888888-8888-4888-8888-888888888888")
        old = workflow_row()
        assert translate([change("workflows", UPDATE, old=old, new={**old, "features": "{}"})], dify) == []

    def test_delete_and_status_change(self, dify: InMemoryDify) -> None:
        row = app_row()
        drafts = valid(
            translate(
                [
                    change("apps", UPDATE, old=row, new={**row, "status": "archived"}),
                    change("apps", DELETE, old=row),
                ],
                dify,
            ),
        )
        assert types(drafts) == ["app.updated", "app.deleted"]
        assert drafts[0].data == {"status": "archived"}
        assert drafts[1].data == {}
        assert drafts[1].workspace_id == WS

    def test_annotation_setting_change_republishes_current_config(self, dify: InMemoryDify) -> None:
        dify.apps_by_id[APP] = app_row(app_model_config_id=CONFIG)
        dify.configs[CONFIG] = config_row()
        dify.annotations[APP] = {"id": "a1", "score_threshold": 0.9, "provider_name": "p", "model_name": "m"}
        setting = {"id": "a1", "app_id": APP, "score_threshold": 0.9, "collection_binding_id": "b1"}
        drafts = valid(translate([change("app_annotation_settings", INSERT, new=setting)], dify))
        assert types(drafts) == ["app.model_config_published"]
        assert drafts[0].data["annotation_reply"]["enabled"] is True


class TestTags:
    def test_binding_changes_send_the_full_current_list_once_per_batch(self, dify: InMemoryDify) -> None:
        dify.apps_by_id[APP] = app_row()
        dify.tags_by_app[APP] = ["a", "b"]
        binding = {"id": "b1", "tenant_id": WS, "tag_id": TAG, "target_id": APP}
        drafts = valid(
            translate(
                [
                    change("tag_bindings", INSERT, new=binding),
                    change("tag_bindings", INSERT, new={**binding, "id": "b2"}),
                ],
                dify,
            ),
        )
        assert types(drafts) == ["app.tags_set"]
        assert drafts[0].data == {"tags": ["a", "b"]}

    def test_rename_reaches_every_bound_app_and_other_targets_are_ignored(self, dify: InMemoryDify) -> None:
        other = "99999999-9999-4999-8999-999999999999"
        dify.apps_by_id[APP] = app_row()
        dify.apps_by_id[other] = app_row(id=other)
        dify.tags_by_app[APP] = ["renamed"]
        dify.tags_by_app[other] = ["renamed", "x"]
        dify.bindings[TAG] = [APP, other, "a-dataset-not-an-app"]
        tag = {"id": TAG, "tenant_id": WS, "type": "app", "name": "old"}
        drafts = valid(translate([change("tags", UPDATE, old=tag, new={**tag, "name": "renamed"})], dify))
        assert [(d.stream, d.data["tags"]) for d in drafts] == [
            (f"app:{APP}", ["renamed"]),
            (f"app:{other}", ["renamed", "x"]),
        ]

    def test_binding_of_a_deleted_app_is_nothing(self, dify: InMemoryDify) -> None:
        binding = {"id": "b1", "tenant_id": WS, "tag_id": TAG, "target_id": APP}
        assert translate([change("tag_bindings", DELETE, old=binding)], dify) == []


class TestSessions:
    def test_issued_never_carries_a_token_and_hash_is_lowercase(self, dify: InMemoryDify) -> None:
        drafts = valid(translate([change("oauth_access_tokens", INSERT, new=token_row())], dify))
        assert types(drafts) == ["session.issued"]
        data = drafts[0].data
        assert data["token_hash"] == HASH
        assert data["subject_type"] == "account"
        assert data["account_id"] == ACCOUNT
        assert data["expires_at"] == "2026-05-27T10:00:00+00:00"
        assert drafts[0].workspace_id is None

    def test_external_sso_token(self, dify: InMemoryDify) -> None:
        row = token_row(prefix="dfoe_", account_id=None, subject_issuer="https://idp.example.com")
        drafts = valid(translate([change("oauth_access_tokens", INSERT, new=row)], dify))
        assert drafts[0].data["subject_type"] == "external_sso"
        assert drafts[0].data["account_id"] is None

    def test_token_without_hash_is_not_a_session(self, dify: InMemoryDify) -> None:
        assert translate([change("oauth_access_tokens", INSERT, new=token_row(token_hash=None))], dify) == []

    def test_use_revoke_and_hard_expiry(self, dify: InMemoryDify) -> None:
        row = token_row()
        used = {**row, "last_used_at": "2026-04-27T11:00:00"}
        revoked = {**used, "revoked_at": "2026-04-27T12:00:00"}
        other = token_row(id="88888888-8888-4888-8888-888888888888")
        drafts = valid(
            translate(
                [
                    change("oauth_access_tokens", UPDATE, old=row, new=used),
                    change("oauth_access_tokens", UPDATE, old=used, new=revoked),
                    change("oauth_access_tokens", UPDATE, old=other, new={**other, "token_hash": None}),
                ],
                dify,
            ),
        )
        assert types(drafts) == ["session.used", "session.revoked", "session.revoked"]
        assert drafts[0].data == {"last_used_at": "2026-04-27T11:00:00+00:00"}
        assert drafts[1].data == {"revoked_at": "2026-04-27T12:00:00+00:00"}
        # A cleared hash: revoked when the change happened.
        assert drafts[2].data == {"revoked_at": "2026-04-27T10:00:00+00:00"}

    def test_clearing_the_hash_of_a_revoked_token_is_nothing_more(self, dify: InMemoryDify) -> None:
        row = token_row(revoked_at="2026-04-27T12:00:00")
        assert (
            translate([change("oauth_access_tokens", UPDATE, old=row, new={**row, "token_hash": None})], dify)
            == []
        )


class TestIds:
    def test_translating_again_gives_the_same_ids(self, dify: InMemoryDify) -> None:
        dify.apps_by_id[APP] = app_row()
        changes = [
            change("apps", INSERT, new=app_row()),
            change("tenants", INSERT, new={"id": WS, "name": "A"}),
        ]
        first = [d.id for d in translate(changes, dify)]
        assert first == [d.id for d in translate(changes, dify)]
        assert len(set(first)) == 2

    def test_an_event_keeps_its_id_when_its_neighbours_change(self, dify: InMemoryDify) -> None:
        row = app_row(app_model_config_id=CONFIG)
        one = change("apps", INSERT, new=row)
        without_config = translate([one], dify)
        dify.configs[CONFIG] = config_row()
        dify.apps_by_id[APP] = row
        with_config = translate([one], dify)
        assert len(with_config) == 2
        assert with_config[0].id == without_config[0].id
