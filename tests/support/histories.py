"""Small random but valid histories covering every event type, for property tests."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Event, parse_event

MODES = ("completion", "workflow", "chat", "advanced-chat", "agent-chat", "agent")
ROLES = ("owner", "admin", "editor", "normal", "dataset_operator")
TAGS = ("alpha", "beta", "Gamma", "δέλτα")
NAMES = ("Café", "cafe bot", "Helper", "Écrire", "Sales", "support")
FORM = [
    {"text-input": {"variable": "topic", "label": "Topic", "required": True, "max_length": 40}},
    {"paragraph": {"variable": "body", "label": "Body", "required": False}},
    {"select": {"variable": "tone", "label": "Tone", "required": True, "options": ["a", "b"]}},
    {"number": {"variable": "n", "label": "N", "required": False}},
    {"file": {"variable": "doc", "label": "Doc", "required": False}},
    {"file-list": {"variable": "docs", "label": "Docs", "required": False}},
]


class HistoryBuilder:
    """Appends valid events with per-stream versions; ids derive from the Random for determinism."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[Event] = []
        self.versions: dict[str, int] = {}
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> str:
        self.clock += timedelta(seconds=self.rng.choice((0, 1, 60)))
        return self.clock.isoformat()

    def add(self, event_type: str, stream: str, workspace_id: str | None, data: dict[str, Any]) -> Event:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        event = parse_event(
            {
                "id": self.new_id(),
                "type": event_type,
                "stream": stream,
                "version": version,
                "workspace_id": workspace_id,
                "occurred_at": self.now(),
                "data": data,
            },
        )
        self.events.append(event)
        return event


def random_history(rng: random.Random, steps: int = 60) -> list[Event]:
    """A history of accounts, workspaces, members, apps and sessions, `steps` changes long."""
    h = HistoryBuilder(rng)
    accounts = [h.new_id() for _ in range(3)]
    workspaces = [h.new_id() for _ in range(2)]
    apps: list[tuple[str, str]] = []
    sessions: list[str] = []
    for account in accounts:
        h.add(
            "account.created",
            f"account:{account}",
            None,
            {
                "name": rng.choice(NAMES),
                "email": f"{account[:8]}@x.io",
                "status": "active",
                "avatar": rng.choice((None, "avatar-file")),
            },
        )
    for ws in workspaces:
        h.add("workspace.created", f"workspace:{ws}", ws, {"name": rng.choice(NAMES)})
        h.add(
            "workspace.member_joined",
            f"workspace:{ws}",
            ws,
            {"account_id": accounts[0], "role": "owner", "current": ws == workspaces[0]},
        )
    for _ in range(steps):
        action = rng.randrange(14)
        ws = rng.choice(workspaces)
        account = rng.choice(accounts)
        if action <= 2 or not apps:
            app_id = h.new_id()
            apps.append((app_id, ws))
            created = (h.clock - timedelta(seconds=rng.choice((0, 0, 5)))).isoformat()
            h.add(
                "app.created",
                f"app:{app_id}",
                ws,
                {
                    "name": rng.choice(NAMES),
                    "description": "",
                    "mode": rng.choice(MODES),
                    "status": rng.choice(("normal", "normal", "normal", "archived")),
                    "enable_api": rng.random() < 0.5,
                    "is_universal": rng.random() < 0.1,
                    "created_by": account,
                    "created_at": created,
                    "updated_at": created,
                    "tags": rng.sample(TAGS, rng.randrange(3)),
                },
            )
            continue
        app_id, app_ws = rng.choice(apps)
        if action == 3:
            h.add("app.updated", f"app:{app_id}", app_ws, {"name": rng.choice(NAMES), "updated_at": h.now()})
        elif action == 4:
            h.add("app.tags_set", f"app:{app_id}", app_ws, {"tags": rng.sample(TAGS, rng.randrange(4))})
        elif action == 5:
            h.add(
                "app.model_config_published",
                f"app:{app_id}",
                app_ws,
                {"opening_statement": "hi", "user_input_form": rng.sample(FORM, 3)},
            )
        elif action == 6:
            variables = [next(iter(f.values())) | {"type": next(iter(f))} for f in rng.sample(FORM, 2)]
            h.add(
                "app.workflow_published",
                f"app:{app_id}",
                app_ws,
                {
                    "workflow_id": h.new_id(),
                    "features": {"opening_statement": "yo"},
                    "start_variables": variables,
                },
            )
        elif action == 7:
            change = rng.choice(
                (
                    {"name": rng.choice(NAMES)},
                    {"avatar": rng.choice((None, "other-file"))},
                    {"status": rng.choice(("active", "banned", "closed"))},
                )
            )
            h.add("account.updated", f"account:{account}", None, change)
        elif action == 8:
            if rng.random() < 0.8:
                h.add("workspace.renamed", f"workspace:{ws}", ws, {"name": rng.choice(NAMES)})
            else:
                h.add(
                    "workspace.status_changed",
                    f"workspace:{ws}",
                    ws,
                    {"status": rng.choice(("archive", "normal"))},
                )
        elif action == 9:
            h.add(
                "workspace.member_joined",
                f"workspace:{ws}",
                ws,
                {"account_id": account, "role": rng.choice(ROLES), "current": rng.random() < 0.5},
            )
        elif action == 10:
            h.add("workspace.member_left", f"workspace:{ws}", ws, {"account_id": account})
        elif action == 11:
            sid = h.new_id()
            sessions.append(sid)
            sso = rng.random() < 0.3
            h.add(
                "session.issued",
                f"session:{sid}",
                None,
                {
                    "token_hash": hashlib.sha256(sid.encode()).hexdigest(),
                    "prefix": "dfoe_" if sso else "dfoa_",
                    "subject_type": "external_sso" if sso else "account",
                    "account_id": None if sso else account,
                    "subject_email": "sso@x.io" if sso else None,
                    "subject_issuer": "https://idp" if sso else None,
                    "client_id": "difyctl",
                    "device_label": "laptop",
                    "created_at": h.now(),
                    "expires_at": (h.clock + timedelta(days=rng.choice((-1, 30)))).isoformat(),
                },
            )
        elif action == 12 and sessions:
            sid = rng.choice(sessions)
            if rng.random() < 0.5:
                h.add("session.used", f"session:{sid}", None, {"last_used_at": h.now()})
            else:
                h.add("session.revoked", f"session:{sid}", None, {"revoked_at": h.now()})
        elif action == 13:
            # Often a non-member too: the fold must leave the state as it is then.
            h.add("workspace.member_made_current", f"workspace:{ws}", ws, {"account_id": account})
        if rng.random() < 0.05:
            h.add("app.deleted", f"app:{app_id}", app_ws, {})
    return h.events
