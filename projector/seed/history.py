"""A realistic, deterministic event history: the seeder, benchmarks, the demo and tests share it.

Everything comes from one `random.Random(seed)`: ids, names, timestamps and token secrets,
so the same arguments give the same events, byte for byte. Timestamps start at a fixed
moment and move forward a little with every event; each workspace writes its own UTC offset.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from projector.seed import vocabulary as words
from projector.seed.tokens import ACCOUNT_PREFIX, SSO_PREFIX, TOKEN_BYTES, encode_token, session_issued
from shared.events import Event
from shared.events.payloads import APP_MODES
from shared.readmodel.documents import WORKFLOW_MODES

START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
OFFSETS = tuple(timezone(timedelta(minutes=minutes)) for minutes in (0, 480, -300, 330, 120, -480, 540))
# Far enough ahead that a "live" session is still live whenever the history is used.
LIVE_FOR = timedelta(days=3650)
EXPIRED_AFTER = timedelta(days=1)
HIDDEN_STATUS = "disabled"
CONFIG_MODES = ("chat", "agent-chat", "completion")
NON_OWNER_ROLES = ("admin", "editor", "normal", "dataset_operator")
CREATOR_ROLES = ("owner", "admin", "editor")
DEMO_DEVICE = "readmodel demo"


@dataclass(frozen=True, slots=True)
class DemoHistory:
    """A seeded history and one live `dfoa_` token of a workspace owner, to hand to a user."""

    events: tuple[Event, ...]
    token: str
    account_id: str
    workspace_id: str


def generate_history(workspaces: int, apps: int, seed: int = 0) -> Iterator[Event]:
    """Yield the history of `workspaces` workspaces with `apps` apps each, in append order."""
    if workspaces < 1:
        raise ValueError("workspaces must be at least 1")
    if apps < 0:
        raise ValueError("apps must not be negative")
    return _History(workspaces, apps, seed).events()


def demo_history(seed: int = 0, *, workspaces: int = 3, apps: int = 12) -> DemoHistory:
    """A small history plus the plaintext token of the first workspace's owner."""
    history = _History(workspaces, apps, seed)
    events = tuple(history.events())
    login = history.demo_login
    assert login is not None  # the first workspace always issues it
    return DemoHistory(
        events=events,
        token=login.token,
        account_id=login.account_id,
        workspace_id=login.workspace_id,
    )


@dataclass(slots=True)
class _Stream:
    name: str
    workspace_id: str | None
    version: int = 0


@dataclass(slots=True)
class _Account:
    id: str
    name: str
    email: str
    offset: timezone
    stream: _Stream
    workspaces: list[str] = field(default_factory=list)
    renamed: bool = False


@dataclass(slots=True)
class _App:
    stream: _Stream
    name: str
    mode: str
    number: int
    enable_api: bool


@dataclass(frozen=True, slots=True)
class _DemoLogin:
    token: str
    account_id: str
    workspace_id: str


class _History:
    """Builds the history one workspace at a time, so memory stays bounded by one workspace."""

    def __init__(self, workspaces: int, apps: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._workspaces = workspaces
        self._apps = apps
        self._now = START
        self._accounts: list[_Account] = []
        self._emails: set[str] = set()
        self._app_count = 0
        self._out: list[Event] = []
        self.demo_login: _DemoLogin | None = None

    def events(self) -> Iterator[Event]:
        for index in range(self._workspaces):
            self._workspace(index)
            yield from self._out
            self._out.clear()

    # --- one workspace ------------------------------------------------------------------

    def _workspace(self, index: int) -> None:
        rng = self._rng
        tz = OFFSETS[index % len(OFFSETS)]
        workspace_id = self._uuid()
        stream = _Stream(f"workspace:{workspace_id}", workspace_id)
        company = words.COMPANIES[index % len(words.COMPANIES)]
        if index >= len(words.COMPANIES):
            company = f"{company} {index // len(words.COMPANIES) + 1}"
        data: dict[str, Any] = {"name": f"{company} {rng.choice(words.TEAMS)}"}
        if rng.random() < 0.7:
            data["status"] = "normal"
        self._emit_now(stream, "workspace.created", data, tz)

        owner = self._new_account(tz)
        self._join(stream, owner, "owner", tz)
        by_role = {"owner": owner}
        for role in NON_OWNER_ROLES:
            account = self._reused_account(workspace_id) if rng.random() < 0.35 else None
            by_role[role] = account or self._new_account(tz)
            self._join(stream, by_role[role], role, tz)
        extras: list[tuple[_Account, str]] = []
        for _ in range(rng.randint(2 if index == 0 else 1, 3)):
            account = self._reused_account(workspace_id) or self._new_account(tz)
            role = rng.choice(NON_OWNER_ROLES)
            self._join(stream, account, role, tz)
            extras.append((account, role))

        creators = [by_role[role] for role in CREATOR_ROLES]
        apps = [self._create_app(workspace_id, tz, index, k, creators) for k in range(self._apps)]

        # Later changes: people, names, apps.
        changed, old_role = extras[0]
        new_role = rng.choice([role for role in NON_OWNER_ROLES if role != old_role])
        self._emit_now(
            stream,
            "workspace.member_role_changed",
            {"account_id": changed.id, "role": new_role},
            tz,
        )
        if len(extras) > 1:
            leaving, _ = extras[-1]
            self._emit_now(stream, "workspace.member_left", {"account_id": leaving.id}, tz)
        if index % 3 == 1 or rng.random() < 0.2:
            self._emit_now(stream, "workspace.renamed", {"name": f"{company} {rng.choice(words.TEAMS)}"}, tz)
        if index == 0:
            self._rename_account(by_role["admin"])
            self._emit_now(by_role["normal"].stream, "account.updated", {"status": "banned"}, tz)
        for account, _ in [(owner, "owner"), *extras]:
            if not account.renamed and rng.random() < 0.2:
                self._rename_account(account)
        for app in apps:
            self._change_app(app, tz)

        self._sessions(index, workspace_id, by_role, tz)
        for app in apps:
            if app.number % 11 == 5 or rng.random() < 0.02:
                self._emit_now(app.stream, "app.deleted", {}, tz)

    # --- accounts -----------------------------------------------------------------------

    def _new_account(self, tz: timezone) -> _Account:
        rng = self._rng
        first, first_ascii = rng.choice(words.FIRST_NAMES)
        last, last_ascii = rng.choice(words.LAST_NAMES)
        domain = rng.choice(words.EMAIL_DOMAINS)
        email = f"{first_ascii}.{last_ascii}@{domain}"
        number = 2
        while email in self._emails:
            email = f"{first_ascii}.{last_ascii}{number}@{domain}"
            number += 1
        self._emails.add(email)
        account_id = self._uuid()
        account = _Account(
            id=account_id,
            name=f"{first} {last}",
            email=email,
            offset=tz,
            stream=_Stream(f"account:{account_id}", None),
        )
        self._emit_now(
            account.stream,
            "account.created",
            {"name": account.name, "email": email, "status": "active"},
            tz,
        )
        self._accounts.append(account)
        return account

    def _reused_account(self, workspace_id: str) -> _Account | None:
        """An existing account that is not yet in the workspace, if one turns up quickly."""
        for _ in range(4):
            account = self._accounts[self._rng.randrange(len(self._accounts))]
            if workspace_id not in account.workspaces:
                return account
        return None

    def _join(self, stream: _Stream, account: _Account, role: str, tz: timezone) -> None:
        assert stream.workspace_id is not None
        # The first membership is the account's default; a later one takes it over sometimes.
        current = not account.workspaces or self._rng.random() < 0.25
        account.workspaces.append(stream.workspace_id)
        self._emit_now(
            stream,
            "workspace.member_joined",
            {"account_id": account.id, "role": role, "current": current},
            tz,
        )

    def _rename_account(self, account: _Account) -> None:
        first, _ = self._rng.choice(words.FIRST_NAMES)
        account.name = f"{first} {account.name.split(' ', 1)[-1]}"
        account.renamed = True
        self._emit_now(account.stream, "account.updated", {"name": account.name}, account.offset)

    # --- apps ---------------------------------------------------------------------------

    def _create_app(
        self, workspace_id: str, tz: timezone, index: int, k: int, creators: list[_Account]
    ) -> _App:
        rng = self._rng
        number = self._app_count
        self._app_count += 1
        mode = APP_MODES[(index + k) % len(APP_MODES)]
        app = _App(
            stream=_Stream(f"app:{self._uuid()}", workspace_id),
            name=f"{rng.choice(words.ADJECTIVES)} {rng.choice(words.MODE_NOUNS[mode])}",
            mode=mode,
            number=number,
            enable_api=rng.random() < 0.7,
        )
        created_at = self._stamp(self._tick(), tz, precise=rng.random() < 0.3)
        description = rng.choice(words.DESCRIPTIONS)
        self._emit(
            app.stream,
            "app.created",
            {
                "name": app.name,
                "description": None if not description and rng.random() < 0.5 else description,
                "mode": mode,
                "status": "normal",
                "enable_api": app.enable_api,
                "is_universal": number % 13 == 6,
                "created_by": rng.choice(creators).id,
                "created_at": created_at,
                "updated_at": created_at,
                "tags": self._tags(),
            },
            created_at,
        )
        unpublished = number % 7 == 4
        if mode in CONFIG_MODES and not unpublished:
            for _ in range(2 if rng.random() < 0.2 else 1):
                self._emit_now(app.stream, "app.model_config_published", self._model_config(app), tz)
        if mode in WORKFLOW_MODES and not unpublished:
            for _ in range(2 if rng.random() < 0.2 else 1):
                self._emit_now(app.stream, "app.workflow_published", self._workflow(app), tz)
        return app

    def _change_app(self, app: _App, tz: timezone) -> None:
        rng = self._rng
        if app.number % 4 == 1 or rng.random() < 0.1:
            app.name = f"{app.name} v{rng.randint(2, 4)}"
            self._app_updated(app, tz, {"name": app.name, "description": rng.choice(words.DESCRIPTIONS)})
        if app.number % 5 == 2 or rng.random() < 0.1:
            self._emit_now(app.stream, "app.tags_set", {"tags": self._tags()}, tz)
        if rng.random() < 0.1:
            app.enable_api = not app.enable_api
            self._app_updated(app, tz, {"enable_api": app.enable_api})
        if app.number % 7 == 3 or rng.random() < 0.03:
            self._app_updated(app, tz, {"status": HIDDEN_STATUS})

    def _app_updated(self, app: _App, tz: timezone, changes: dict[str, Any]) -> None:
        updated_at = self._stamp(self._tick(), tz)
        self._emit(app.stream, "app.updated", {**changes, "updated_at": updated_at}, updated_at)

    def _tags(self) -> list[str]:
        return self._rng.sample(words.TAGS, self._rng.choice((0, 1, 1, 2, 3)))

    def _form_fields(self) -> list[tuple[str, dict[str, Any]]]:
        rng = self._rng
        if rng.random() < 0.45:
            chosen = range(len(words.FORM_FIELDS))
        else:
            chosen = sorted(rng.sample(range(len(words.FORM_FIELDS)), rng.randint(0, 4)))
        return [(kind, copy.deepcopy(spec)) for kind, spec in (words.FORM_FIELDS[i] for i in chosen)]

    def _model_config(self, app: _App) -> dict[str, Any]:
        rng = self._rng
        config: dict[str, Any] = {
            "opening_statement": f"Hi, I'm {app.name}. How can I help?"
            if app.mode != "completion" and rng.random() < 0.7
            else None,
            "suggested_questions": rng.sample(words.SUGGESTED_QUESTIONS, rng.randint(0, 3)),
            "suggested_questions_after_answer": {"enabled": rng.random() < 0.5},
            "speech_to_text": {"enabled": rng.random() < 0.2},
            "text_to_speech": {"enabled": False, "voice": "", "language": ""},
            "retriever_resource": {"enabled": rng.random() < 0.8},
            "more_like_this": {"enabled": app.mode == "completion" and rng.random() < 0.5},
            "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
            "user_input_form": [{kind: spec} for kind, spec in self._form_fields()],
            "file_upload": {
                "image": {
                    "enabled": rng.random() < 0.4,
                    "number_limits": 3,
                    "detail": "high",
                    "transfer_methods": ["remote_url", "local_file"],
                },
            },
            "annotation_reply": {"enabled": False},
        }
        # Producers leave out what was never set; the read model fills in the defaults.
        for key in ("retriever_resource", "annotation_reply", "more_like_this", "speech_to_text"):
            if rng.random() < 0.25:
                del config[key]
        return config

    def _workflow(self, app: _App) -> dict[str, Any]:
        rng = self._rng
        features: dict[str, Any] = {
            "opening_statement": f"Welcome to {app.name}." if app.mode == "advanced-chat" else "",
            "suggested_questions": rng.sample(words.SUGGESTED_QUESTIONS, rng.randint(0, 2)),
            "suggested_questions_after_answer": {"enabled": rng.random() < 0.3},
            "speech_to_text": {"enabled": False},
            "text_to_speech": {"enabled": False, "voice": "", "language": ""},
            "retriever_resource": {"enabled": True},
            "sensitive_word_avoidance": {"enabled": False},
            "file_upload": {
                "enabled": rng.random() < 0.5,
                "allowed_file_types": ["image", "document"],
                "allowed_file_extensions": [],
                "allowed_file_upload_methods": ["local_file", "remote_url"],
                "number_limits": 3,
                "image": {
                    "enabled": False,
                    "number_limits": 3,
                    "transfer_methods": ["local_file", "remote_url"],
                },
            },
        }
        if rng.random() < 0.2:
            # Left over from a model config; the read model must use start_variables instead.
            features["user_input_form"] = [
                {"text-input": {"label": "Stale", "variable": "stale", "required": False}}
            ]
        start_variables = []
        for kind, spec in self._form_fields():
            variable = {
                "variable": spec.pop("variable"),
                "label": spec.pop("label"),
                "type": kind,
                "required": spec.pop("required"),
                "max_length": spec.pop("max_length", None),
                "options": spec.pop("options", []),
            }
            variable.update(spec)
            start_variables.append(variable)
        return {"workflow_id": self._uuid(), "features": features, "start_variables": start_variables}

    # --- sessions -----------------------------------------------------------------------

    def _sessions(self, index: int, workspace_id: str, by_role: dict[str, _Account], tz: timezone) -> None:
        rng = self._rng
        owner = by_role["owner"]
        label = DEMO_DEVICE if index == 0 else rng.choice(words.DEVICE_LABELS)
        live_for = LIVE_FOR if index % 2 == 0 else None
        session, token = self._issue(owner, tz, live_for=live_for, label=label)
        if index == 0:
            self.demo_login = _DemoLogin(token=token, account_id=owner.id, workspace_id=workspace_id)
        for _ in range(rng.randint(1, 2)):
            self._used(session, tz)
        if index == 0 or rng.random() < 0.5:
            session, _ = self._issue(by_role["admin"], tz, live_for=EXPIRED_AFTER, label="old laptop")
            self._used(session, tz)
        if index == 0 or rng.random() < 0.4:
            session, _ = self._issue(by_role["editor"], tz, live_for=LIVE_FOR, label="shared box")
            self._used(session, tz)
            revoked_at = self._stamp(self._tick(), tz)
            self._emit(session, "session.revoked", {"revoked_at": revoked_at}, revoked_at)
        if index % 3 == 0 or rng.random() < 0.3:
            session, _ = self._issue(None, tz, live_for=LIVE_FOR, label=None, sso_index=index)
            self._used(session, tz)

    def _issue(
        self,
        account: _Account | None,
        tz: timezone,
        *,
        live_for: timedelta | None,
        label: str | None,
        sso_index: int = 0,
    ) -> tuple[_Stream, str]:
        rng = self._rng
        token = encode_token(ACCOUNT_PREFIX if account else SSO_PREFIX, rng.randbytes(TOKEN_BYTES))
        session_id = self._uuid()
        moment = self._tick()
        created_at = self._stamp(moment, tz)
        event = session_issued(
            event_id=self._uuid(),
            session_id=session_id,
            token=token,
            account_id=account.id if account else None,
            subject_email=account.email if account else f"contractor{sso_index}@partner.example",
            subject_issuer=None if account else rng.choice(words.SSO_ISSUERS),
            created_at=created_at,
            expires_at=None if live_for is None else self._stamp(moment + live_for, tz),
            device_label=label,
        )
        self._out.append(event)
        return _Stream(event.stream, None, version=1), token

    def _used(self, session: _Stream, tz: timezone) -> None:
        used_at = self._stamp(self._tick(), tz)
        self._emit(session, "session.used", {"last_used_at": used_at}, used_at)

    # --- primitives ---------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _tick(self) -> datetime:
        self._now += timedelta(seconds=self._rng.randint(1, 90))
        return self._now

    def _stamp(self, moment: datetime, tz: timezone, *, precise: bool = False) -> str:
        local = moment.astimezone(tz)
        if precise:
            local = local.replace(microsecond=self._rng.randrange(1, 1_000_000))
        text = local.isoformat(timespec="microseconds" if precise else "seconds")
        return text.replace("+00:00", "Z")

    def _emit_now(self, stream: _Stream, event_type: str, data: dict[str, Any], tz: timezone) -> None:
        self._emit(stream, event_type, data, self._stamp(self._tick(), tz))

    def _emit(self, stream: _Stream, event_type: str, data: dict[str, Any], occurred_at: str) -> None:
        stream.version += 1
        self._out.append(
            Event(
                id=self._uuid(),
                type=event_type,
                stream=stream.name,
                version=stream.version,
                workspace_id=stream.workspace_id,
                occurred_at=occurred_at,
                data=data,
            ),
        )
