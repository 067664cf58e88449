"""The seeded history: deterministic, valid against the contract, and covering every case."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from projector.seed import demo_history, generate_history, new_token, token_hash
from projector.store import EventStore, plan_append
from shared.events import Event, encode_event, parse_event
from shared.events.payloads import APP_MODES, ROLES
from shared.events.values import require_timestamp

FORM_TYPES = {"text-input", "paragraph", "select", "number", "file", "file-list"}
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def store_backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate_history(6, 12, seed=11))


def moment(text: str) -> datetime:
    value = require_timestamp("timestamp", text)
    assert value is not None
    return value


def by_type(events: list[Event], event_type: str) -> list[Event]:
    return [event for event in events if event.type == event_type]


def test_the_same_seed_gives_the_same_bytes() -> None:
    first = b"".join(encode_event(e) + b"\n" for e in generate_history(3, 9, seed=5))
    second = b"".join(encode_event(e) + b"\n" for e in generate_history(3, 9, seed=5))
    other = b"".join(encode_event(e) + b"\n" for e in generate_history(3, 9, seed=6))

    assert first == second
    assert first != other


def test_every_event_passes_the_contract_and_round_trips(events: list[Event]) -> None:
    for event in events:
        assert parse_event(orjson.loads(encode_event(event))) == event


def test_streams_are_gapless_and_ids_unique(events: list[Event]) -> None:
    plan = plan_append(events, stored={}, next_versions={})

    assert plan.problems == ()
    assert plan.duplicates == 0
    assert len({event.id for event in events}) == len(events)


def test_time_moves_forward_and_offsets_vary(events: list[Event]) -> None:
    moments = [moment(event.occurred_at) for event in events]
    assert moments == sorted(moments)
    suffixes = {re.search(r"(Z|[+-]\d\d:\d\d)$", e.occurred_at).group(1) for e in events}  # type: ignore[union-attr]
    assert "Z" in suffixes
    assert len(suffixes) >= 4


def test_workspaces_have_members_of_every_role_and_they_change(events: list[Event]) -> None:
    joined = by_type(events, "workspace.member_joined")
    assert {event.data["role"] for event in joined} == set(ROLES)
    for workspace in by_type(events, "workspace.created"):
        roles = {e.data["role"] for e in joined if e.workspace_id == workspace.workspace_id}
        assert roles == set(ROLES)
    assert {event.data["current"] for event in joined} == {True, False}
    assert by_type(events, "workspace.member_role_changed")
    assert by_type(events, "workspace.member_left")
    assert by_type(events, "workspace.renamed")
    multi = Counter(event.data["account_id"] for event in joined)
    assert max(multi.values()) > 1  # some accounts belong to several workspaces


def test_accounts_are_renamed_and_exactly_one_is_banned(events: list[Event]) -> None:
    updates = by_type(events, "account.updated")
    assert any("name" in event.data for event in updates)
    assert [event.data.get("status") for event in updates].count("banned") == 1


def test_apps_cover_every_mode_and_lifecycle(events: list[Event]) -> None:
    created = by_type(events, "app.created")
    assert {event.data["mode"] for event in created} == set(APP_MODES)
    assert any(event.data["is_universal"] for event in created)
    assert {event.data["enable_api"] for event in created} == {True, False}
    assert any(re.search(r"\.\d{6}", e.data["created_at"]) for e in created)
    assert any("." not in e.data["created_at"] for e in created)
    updates = by_type(events, "app.updated")
    assert any("name" in event.data for event in updates)
    assert any(event.data.get("status", "normal") != "normal" for event in updates)
    assert by_type(events, "app.tags_set")
    assert by_type(events, "app.deleted")
    assert any(event.data["tags"] for event in created)


def test_configs_use_every_form_type_and_some_apps_have_none(events: list[Event]) -> None:
    modes = {e.stream: e.data["mode"] for e in by_type(events, "app.created")}
    configs = by_type(events, "app.model_config_published")
    workflows = by_type(events, "app.workflow_published")
    assert {modes[e.stream] for e in configs} == {"chat", "agent-chat", "completion"}
    assert {modes[e.stream] for e in workflows} == {"workflow", "advanced-chat"}
    form_types = {kind for e in configs for item in e.data["user_input_form"] for kind in item}
    assert form_types == FORM_TYPES
    assert {v["type"] for e in workflows for v in e.data["start_variables"]} == FORM_TYPES
    selects = [item["select"] for e in configs for item in e.data["user_input_form"] if "select" in item]
    assert all(select["options"] for select in selects)
    published = {e.stream for e in [*configs, *workflows]}
    configurable = {s for s, mode in modes.items() if mode in {"chat", "agent-chat", "completion"}}
    assert configurable - published  # some apps never published a config


def test_sessions_cover_live_expired_revoked_and_sso(events: list[Event]) -> None:
    issued = by_type(events, "session.issued")
    revoked = {event.stream for event in by_type(events, "session.revoked")}
    assert by_type(events, "session.used")
    sso = [e for e in issued if e.data["prefix"] == "dfoe_"]
    assert sso
    assert all(e.data["account_id"] is None and e.data["subject_issuer"] for e in sso)
    expiries = [e.data["expires_at"] for e in issued]
    assert None in expiries
    expired = [x for x in expiries if x and moment(x) < FAR_FUTURE]
    live = [x for x in expiries if x and moment(x) > FAR_FUTURE]
    assert expired
    assert live
    assert revoked
    assert all(e.data["client_id"] == "difyctl" for e in issued)


def test_the_demo_token_belongs_to_a_live_owner_session_and_is_never_stored() -> None:
    demo = demo_history(seed=4)
    assert re.fullmatch(r"dfoa_[A-Za-z0-9_-]{43}", demo.token)
    text = b"".join(encode_event(event) for event in demo.events)
    assert demo.token.encode() not in text
    assert demo.token[5:].encode() not in text

    (session,) = [
        e
        for e in demo.events
        if e.type == "session.issued" and e.data["token_hash"] == token_hash(demo.token)
    ]
    assert session.data["account_id"] == demo.account_id
    assert session.data["subject_type"] == "account"
    expires = session.data["expires_at"]
    assert expires is None or moment(expires) > FAR_FUTURE
    assert session.stream not in {e.stream for e in demo.events if e.type == "session.revoked"}
    joined = [
        e
        for e in demo.events
        if e.type == "workspace.member_joined" and e.data["account_id"] == demo.account_id
    ]
    assert any(e.workspace_id == demo.workspace_id and e.data["role"] == "owner" for e in joined)
    account_updates = [e for e in demo.events if e.stream == f"account:{demo.account_id}"]
    assert all(e.data.get("status", "active") == "active" for e in account_updates)
    left = [e for e in demo.events if e.type == "workspace.member_left"]
    assert not any(
        e.workspace_id == demo.workspace_id and e.data["account_id"] == demo.account_id for e in left
    )
    assert demo_history(seed=4) == demo


def test_a_history_appends_to_the_store(event_store: EventStore) -> None:
    history = list(generate_history(2, 8, seed=1))

    result = event_store.append(history)
    again = event_store.append(list(generate_history(2, 8, seed=1)))

    assert (result.new, again.duplicates, again.new) == (len(history), len(history), 0)


def test_tokens_are_random_and_hashed_whole() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert re.fullmatch(r"dfoa_[A-Za-z0-9_-]{43}", first)
    # Known answer: SHA-256 of the whole string, prefix included, as lowercase hex.
    assert token_hash("dfoa_abc") == "cb14bc599320c27ca2269f2d20612addaef064896cf16aca4bc06dbedfc07b49"
    assert token_hash(first) != token_hash(second)


@pytest.mark.parametrize(("workspaces", "apps"), [(0, 1), (1, -1)])
def test_impossible_sizes_are_refused(workspaces: int, apps: int) -> None:
    with pytest.raises(ValueError, match="must"):
        generate_history(workspaces, apps, seed=0)
