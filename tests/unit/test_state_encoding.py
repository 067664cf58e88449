"""The stored form of the folded states: what Redis keeps must give back what the fold needs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from projector.fold.derive import app_records
from projector.fold.records import HASH
from projector.fold.state import (
    AccountState,
    AppState,
    Membership,
    MembershipView,
    SessionState,
    State,
    WorkspaceState,
    decode_state,
    encode_state,
    split_stored,
    stored_state,
)
from shared.readmodel import keys

WS = "0f8e2b1a-6c3d-4e5f-8a9b-0c1d2e3f4a5b"
APP = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ADA = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
SESSION = "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f"

FORM = (
    {"text-input": {"label": "Name", "variable": "name", "required": True, "max_length": 48}},
    {"select": {"label": "Tone", "variable": "tone", "required": False, "options": ["a", "b"]}},
)
APP_STATE = AppState(
    id=APP,
    workspace_id=WS,
    name="Helper",
    description="Answers «questions»",
    mode="chat",
    status="normal",
    enable_api=True,
    is_universal=False,
    created_by=ADA,
    created_at_us=1_748_863_574_000_001,
    updated_at="2025-06-02T11:26:14",
    tags=("sales", "客服"),
)
APP_STREAM, WS_OWNER = f"app:{APP}", f"workspace:{WS}"


def stored(state: AppState) -> tuple[bytes, dict[str, bytes]]:
    """The app's `s`, the other fields of its hash and its row, as the projector writes them."""
    fields: dict[str, bytes] = {}
    for (_, key, name), value in app_records(WS, state).items():
        assert isinstance(value, bytes) or key != keys.app(WS, APP)
        if key == keys.app(WS, APP) and isinstance(value, bytes):
            fields[name] = value
        elif (key, name) == keys.app_row(WS, APP_STREAM) and isinstance(value, bytes):
            fields["row"] = value
    return encode_state(state), fields


def decoded(state: AppState) -> State | None:
    return decode_state(WS_OWNER, APP_STREAM, *stored(state))


@pytest.mark.parametrize(
    ("owner", "stream", "state"),
    [
        (
            f"workspace:{WS}",
            f"workspace:{WS}",
            WorkspaceState(
                id=WS,
                name="Acme",
                created_at="2025-06-01T00:00:00",
                members={ADA: Membership("owner", 7)},
                current_joins={ADA: 9},
            ),
        ),
        (f"account:{ADA}", f"account:{ADA}", AccountState(ADA, "Ada", "ada@example.com", "active")),
        (f"workspace:{WS}", f"account:{ADA}", AccountState(ADA, "Ada", "ada@example.com", "banned", "f")),
        (f"account:{ADA}", f"workspace:{WS}", MembershipView(WS, role="admin", jpos=3, current=5)),
        (f"account:{ADA}", f"workspace:{WS}", MembershipView(WS)),
        (
            f"account:{ADA}",
            f"session:{SESSION}",
            SessionState(
                id=SESSION,
                token_hash="ab" * 32,
                prefix="dfoa_abc",
                subject_type="account",
                account_id=ADA,
                subject_email=None,
                subject_issuer=None,
                client_id="difyctl",
                device_label="laptop",
                created_at="2025-06-01T00:00:00Z",
                created_at_ms=1_748_736_000_000,
                expires_at=None,
                expires_at_ms=None,
                last_used_at="2025-06-02T00:00:00Z",
            ),
        ),
        (WS_OWNER, APP_STREAM, None),
    ],
)
def test_a_state_comes_back_from_its_stored_form(owner: str, stream: str, state: State | None) -> None:
    assert decode_state(owner, stream, encode_state(state)) == state


@pytest.mark.parametrize("status", ["normal", "disabled"])
def test_an_app_comes_back_from_its_stored_form_and_documents(status: str) -> None:
    state = replace(APP_STATE, status=status)
    assert decoded(state) == state


def test_the_stored_form_names_no_field_and_repeats_nothing_its_key_says() -> None:
    raw = encode_state(replace(APP_STATE, status="disabled"))
    assert b'"name"' not in raw
    assert APP.encode() not in raw
    assert WS.encode() not in raw


def test_a_visible_app_keeps_only_what_its_documents_do_not_show() -> None:
    raw, fields = stored(APP_STATE)
    assert raw == b"[false,1748863574000001,null]"
    assert {"row", "api"} <= set(fields)


@pytest.mark.parametrize(
    ("source", "features"),
    [
        ("model_config", {"opening_statement": "Hi", "model": {"provider": "openai", "name": "gpt"}}),
        ("model_config", {}),
        # A legacy image upload, which a workflow's documents show rewritten.
        ("workflow", {"file_upload": {"image": {"enabled": True, "number_limits": 2}}}),
        ("workflow", {"file_upload": {"image": {"enabled": False}}, "speech_to_text": {"enabled": True}}),
    ],
)
def test_a_published_configuration_is_read_back_from_the_parameters(
    source: str, features: dict[str, Any]
) -> None:
    state = replace(APP_STATE, source=source, features=features, user_input_form=FORM)
    raw, fields = stored(state)
    assert b"opening_statement" in fields["params"]
    assert b"opening_statement" not in raw  # kept once, in the document
    again = decode_state(WS_OWNER, APP_STREAM, raw, fields)
    assert isinstance(again, AppState)
    # Not the same features (the parameters fill in Dify's defaults and drop what no
    # document shows), but the same records and the same stored form.
    assert app_records(WS, again) == app_records(WS, state)
    assert encode_state(again) == raw
    # And an update after it renders the same documents from either.
    renamed_before, renamed_after = replace(state, name="Other"), replace(again, name="Other")
    assert app_records(WS, renamed_after) == app_records(WS, renamed_before)


def test_a_hidden_app_keeps_its_configuration_and_nothing_it_would_show() -> None:
    state = replace(
        APP_STATE, status="disabled", source="model_config", features={"a": 1}, user_input_form=FORM
    )
    records = app_records(WS, state)
    assert set(records) == {(HASH, keys.app(WS, APP), "params")}
    again = decode_state(WS_OWNER, APP_STREAM, *stored(state))
    assert isinstance(again, AppState)
    shown = app_records(WS, replace(state, status="normal"))
    assert app_records(WS, replace(again, status="normal")) == shown


def test_a_deleted_app_keeps_only_its_author() -> None:
    state = replace(APP_STATE, deleted=True, source="model_config", features={"a": 1}, user_input_form=FORM)
    raw, fields = stored(state)
    assert fields == {}
    assert raw == f'["{ADA}"]'.encode()
    again = decode_state(WS_OWNER, APP_STREAM, raw)
    assert isinstance(again, AppState)
    assert again.deleted
    assert again.created_by == ADA
    assert app_records(WS, again) == {}
    assert encode_state(again) == raw


@pytest.mark.parametrize("missing", ["params", "row", "api"])
def test_an_app_without_the_documents_its_state_needs_is_an_error_not_a_blank(missing: str) -> None:
    raw, fields = stored(replace(APP_STATE, source="workflow", user_input_form=FORM))
    del fields[missing]
    with pytest.raises(ValueError, match=missing):
        decode_state(WS_OWNER, APP_STREAM, raw, fields)


def test_a_stream_state_field_holds_its_version_then_its_state() -> None:
    state = AccountState(ADA, "Ada", "ada@example.com", "active")
    stored_form = stored_state(12, state)
    assert stored_form.startswith(b"12 [")
    version, raw = split_stored(stored_form)
    assert version == 12
    assert decode_state(f"account:{ADA}", f"account:{ADA}", raw) == state
    assert split_stored(stored_state(3, None)) == (3, b"null")
