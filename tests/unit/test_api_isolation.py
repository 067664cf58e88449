"""Isolation: whatever the memberships, tokens and apps, no caller sees what is not theirs."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.redis import make_fake_redis
from tests.unit.api_events import Api, account_token, at, new_id, sso_token


@dataclass(frozen=True)
class AppPlan:
    workspace: int
    creator: int
    status: str
    universal: bool
    deleted: bool
    api_enabled: bool


@dataclass(frozen=True)
class SessionPlan:
    account: int | None  # None: an SSO subject
    revoked: bool
    expired: bool


@dataclass(frozen=True)
class World:
    workspaces: int
    statuses: tuple[str, ...]  # per account
    memberships: frozenset[tuple[int, int]]  # (account, workspace) that joined
    left: frozenset[tuple[int, int]]  # ... and then left
    apps: tuple[AppPlan, ...]
    sessions: tuple[SessionPlan, ...]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    workspaces = draw(st.integers(1, 3))
    statuses = tuple(draw(st.lists(st.sampled_from(["active", "active", "banned"]), min_size=1, max_size=3)))
    pairs = [(a, w) for a in range(len(statuses)) for w in range(workspaces)]
    memberships = frozenset(draw(st.lists(st.sampled_from(pairs), unique=True)))
    left = frozenset(p for p in memberships if draw(st.booleans()) and draw(st.booleans()))
    apps = tuple(
        draw(
            st.lists(
                st.builds(
                    AppPlan,
                    workspace=st.integers(0, workspaces - 1),
                    creator=st.integers(0, len(statuses) - 1),
                    status=st.sampled_from(["normal", "normal", "archived"]),
                    universal=st.booleans(),
                    deleted=st.booleans(),
                    api_enabled=st.booleans(),
                ),
                max_size=6,
            )
        )
    )
    sessions = tuple(
        draw(
            st.lists(
                st.builds(
                    SessionPlan,
                    account=st.none() | st.integers(0, len(statuses) - 1),
                    revoked=st.booleans(),
                    expired=st.booleans(),
                ),
                min_size=1,
                max_size=5,
            )
        )
    )
    return World(workspaces, statuses, memberships, left, apps, sessions)


@dataclass
class Built:
    api: Api
    workspace_ids: list[str]
    account_ids: list[str]
    app_ids: list[str]
    tokens: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)


def build(world: World) -> Built:
    api = Api(make_fake_redis())
    h = api.history
    built = Built(
        api,
        [new_id() for _ in range(world.workspaces)],
        [new_id() for _ in world.statuses],
        [new_id() for _ in world.apps],
    )
    events = [h.workspace_created(ws, f"W{i}") for i, ws in enumerate(built.workspace_ids)]
    events += [
        h.account_created(acct, f"A{i}", f"a{i}@example.com", status)
        for i, (acct, status) in enumerate(zip(built.account_ids, world.statuses, strict=True))
    ]
    for a, w in sorted(world.memberships):
        events.append(h.member_joined(built.workspace_ids[w], built.account_ids[a], "normal", current=True))
    for i, plan in enumerate(world.apps):
        ws, app = built.workspace_ids[plan.workspace], built.app_ids[i]
        events.append(
            h.app_created(
                app,
                ws,
                built.account_ids[plan.creator],
                status=plan.status,
                is_universal=plan.universal,
                enable_api=plan.api_enabled,
                created_at=at(i),
            )
        )
        if plan.deleted:
            events.append(h.app_deleted(app, ws))
    for a, w in sorted(world.left):
        events.append(h.member_left(built.workspace_ids[w], built.account_ids[a]))
    for plan in world.sessions:
        session = new_id()
        token = sso_token() if plan.account is None else account_token()
        expires = at(60) if plan.expired else at(30 * 86400)
        if plan.account is None:
            events.append(
                h.session_issued(session, token, subject_email="sso@example.com", expires_at=expires)
            )
        else:
            events.append(
                h.session_issued(session, token, account=built.account_ids[plan.account], expires_at=expires)
            )
        if plan.revoked:
            events.append(h.session_revoked(session))
        built.tokens.append(token)
        built.session_ids.append(session)
    api.project(*events)
    return built


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_no_caller_sees_what_is_not_theirs(world: World) -> None:
    built = build(world)
    api = built.api
    member_of = world.memberships - world.left
    for s, plan in enumerate(world.sessions):
        token = built.tokens[s]
        usable = not plan.revoked and not plan.expired
        account = plan.account
        reads_apps = usable and account is not None and world.statuses[account] == "active"

        for w, ws in enumerate(built.workspace_ids):
            result = api.get("/apps", token, workspace_id=ws)
            allowed = reads_apps and (account, w) in member_of
            if not allowed:
                assert result.status_code in (401, 403, 404)
                assert "data" not in result.json
                continue
            expected = {
                built.app_ids[i]
                for i, app in enumerate(world.apps)
                if app.workspace == w
                and app.status == "normal"
                and app.api_enabled
                and not app.universal
                and not app.deleted
            }
            assert {row["id"] for row in result.json["data"]} == expected
            assert {row["workspace_id"] for row in result.json["data"]} <= {ws}

        for i, app_plan in enumerate(world.apps):
            result = api.get(f"/apps/{built.app_ids[i]}/describe", token)
            visible = app_plan.status == "normal" and not app_plan.deleted and app_plan.api_enabled
            allowed = reads_apps and (account, app_plan.workspace) in member_of
            if allowed and visible:
                assert result.status_code == 200
                assert result.json["info"]["id"] == built.app_ids[i]
            else:
                assert result.status_code in (401, 403, 404)
                assert "info" not in result.json

        sessions = api.get("/account/sessions", token)
        workspaces = api.get("/workspaces", token)
        if not usable:
            assert sessions.status_code == workspaces.status_code == 401
            continue
        if account is None:  # an SSO bearer: no read route takes it
            assert sessions.status_code == workspaces.status_code == 403
            continue
        own = {
            built.session_ids[k]
            for k, other in enumerate(world.sessions)
            if other.account == account and not other.revoked and not other.expired
        }
        assert {row["id"] for row in sessions.json["data"]} == own
        expected_workspaces = (
            set() if account is None else {built.workspace_ids[w] for a, w in member_of if a == account}
        )
        assert {entry["id"] for entry in workspaces.json["workspaces"]} == expected_workspaces
