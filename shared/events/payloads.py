"""Typed `data` payloads, one frozen dataclass per event type, and the type registry.

Unknown keys inside `data` are ignored (forward compatible); required keys are checked and
a bad one raises EventValidationError naming `data.<key>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from shared.errors import EventValidationError
from shared.events import values as v

ROLES = ("owner", "admin", "editor", "normal", "dataset_operator")
ACCOUNT_STATUSES = ("active", "pending", "uninitialized", "banned", "closed")
APP_MODES = (
    "completion",
    "workflow",
    "chat",
    "advanced-chat",
    "agent-chat",
    "agent",
    "channel",
    "rag-pipeline",
)
MODEL_CONFIG_KEYS = (
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "more_like_this",
    "sensitive_word_avoidance",
    "user_input_form",
    "file_upload",
    "annotation_reply",
)
_ABSENT = object()


def _req(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise EventValidationError(f"data.{key}", "is required")
    return data[key]


def _opt(data: dict[str, Any], key: str) -> Any:
    return data.get(key, _ABSENT)


def _account_id(data: dict[str, Any]) -> str:
    """The required `account_id` of a membership event."""
    account_id = v.require_uuid("data.account_id", _req(data, "account_id"))
    assert account_id is not None
    return account_id


class Payload:
    """Base of every typed payload; `TYPE` is the event type it parses."""

    TYPE: ClassVar[str]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Payload:
        raise NotImplementedError


# --- workspace stream -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkspaceCreated(Payload):
    TYPE: ClassVar[str] = "workspace.created"
    name: str
    status: str = "normal"
    created_at: datetime | None = None  # when absent, the event's occurred_at

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceCreated:
        status = data.get("status")
        return cls(
            name=v.require_text("data.name", _req(data, "name")),
            status="normal" if status is None else v.require_text("data.status", status),
            created_at=v.require_timestamp("data.created_at", data.get("created_at"), nullable=True),
        )


@dataclass(frozen=True, slots=True)
class WorkspaceRenamed(Payload):
    TYPE: ClassVar[str] = "workspace.renamed"
    name: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceRenamed:
        return cls(name=v.require_text("data.name", _req(data, "name")))


@dataclass(frozen=True, slots=True)
class WorkspaceStatusChanged(Payload):
    TYPE: ClassVar[str] = "workspace.status_changed"
    status: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceStatusChanged:
        return cls(status=v.require_text("data.status", _req(data, "status")))


@dataclass(frozen=True, slots=True)
class WorkspaceMemberJoined(Payload):
    TYPE: ClassVar[str] = "workspace.member_joined"
    account_id: str
    role: str
    current: bool

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceMemberJoined:
        return cls(
            account_id=_account_id(data),
            role=v.require_choice("data.role", _req(data, "role"), ROLES),
            current=v.require_bool("data.current", _req(data, "current")),
        )


@dataclass(frozen=True, slots=True)
class WorkspaceMemberRoleChanged(Payload):
    TYPE: ClassVar[str] = "workspace.member_role_changed"
    account_id: str
    role: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceMemberRoleChanged:
        account_id = _account_id(data)
        return cls(account_id=account_id, role=v.require_choice("data.role", _req(data, "role"), ROLES))


@dataclass(frozen=True, slots=True)
class WorkspaceMemberLeft(Payload):
    TYPE: ClassVar[str] = "workspace.member_left"
    account_id: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceMemberLeft:
        return cls(account_id=_account_id(data))


@dataclass(frozen=True, slots=True)
class WorkspaceMemberMadeCurrent(Payload):
    """The member switched to this workspace: it is now the account's current one."""

    TYPE: ClassVar[str] = "workspace.member_made_current"
    account_id: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WorkspaceMemberMadeCurrent:
        return cls(account_id=_account_id(data))


# --- account stream ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountCreated(Payload):
    TYPE: ClassVar[str] = "account.created"
    name: str
    email: str
    status: str
    avatar: str | None = None  # optional; null: no avatar

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AccountCreated:
        return cls(
            name=v.require_text("data.name", _req(data, "name")),
            email=v.require_text("data.email", _req(data, "email")),
            status=v.require_choice("data.status", _req(data, "status"), ACCOUNT_STATUSES),
            avatar=v.require_str("data.avatar", data.get("avatar"), nullable=True),
        )


@dataclass(frozen=True, slots=True)
class AccountUpdated(Payload):
    """Any subset of name, email, status, avatar; None means "not in this event" (for the
    avatar, which may be set to null, `avatar_changed` says whether it is in the event)."""

    TYPE: ClassVar[str] = "account.updated"
    name: str | None = None
    email: str | None = None
    status: str | None = None
    avatar: str | None = None
    avatar_changed: bool = False

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AccountUpdated:
        name, email, status = _opt(data, "name"), _opt(data, "email"), _opt(data, "status")
        avatar = _opt(data, "avatar")
        return cls(
            name=None if name is _ABSENT else v.require_text("data.name", name),
            email=None if email is _ABSENT else v.require_text("data.email", email),
            status=None if status is _ABSENT else v.require_choice("data.status", status, ACCOUNT_STATUSES),
            avatar=None if avatar is _ABSENT else v.require_str("data.avatar", avatar, nullable=True),
            avatar_changed=avatar is not _ABSENT,
        )


# --- app stream -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppCreated(Payload):
    TYPE: ClassVar[str] = "app.created"
    name: str
    description: str
    mode: str
    status: str
    enable_api: bool
    is_universal: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AppCreated:
        created_by = v.require_uuid("data.created_by", _req(data, "created_by"))
        created_at = v.require_timestamp("data.created_at", _req(data, "created_at"))
        updated_at = v.require_timestamp("data.updated_at", _req(data, "updated_at"))
        assert created_by is not None
        assert created_at is not None
        assert updated_at is not None
        description = _req(data, "description")
        return cls(
            name=v.require_text("data.name", _req(data, "name")),
            description="" if description is None else v.require_text("data.description", description),
            mode=v.require_choice("data.mode", _req(data, "mode"), APP_MODES),
            status=v.require_text("data.status", _req(data, "status")),
            enable_api=v.require_bool("data.enable_api", _req(data, "enable_api")),
            is_universal=v.require_bool("data.is_universal", _req(data, "is_universal")),
            created_by=created_by,
            created_at=created_at,
            updated_at=updated_at,
            tags=v.require_str_list("data.tags", _req(data, "tags")),
        )


@dataclass(frozen=True, slots=True)
class AppUpdated(Payload):
    """Any subset of the mutable app fields; None means "not in this event"."""

    TYPE: ClassVar[str] = "app.updated"
    name: str | None = None
    description: str | None = None
    status: str | None = None
    enable_api: bool | None = None
    is_universal: bool | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AppUpdated:
        fields: dict[str, Any] = {}
        if (raw := _opt(data, "name")) is not _ABSENT:
            fields["name"] = v.require_text("data.name", raw)
        if (raw := _opt(data, "description")) is not _ABSENT:
            fields["description"] = "" if raw is None else v.require_text("data.description", raw)
        if (raw := _opt(data, "status")) is not _ABSENT:
            fields["status"] = v.require_text("data.status", raw)
        if (raw := _opt(data, "enable_api")) is not _ABSENT:
            fields["enable_api"] = v.require_bool("data.enable_api", raw)
        if (raw := _opt(data, "is_universal")) is not _ABSENT:
            fields["is_universal"] = v.require_bool("data.is_universal", raw)
        if (raw := _opt(data, "updated_at")) is not _ABSENT:
            fields["updated_at"] = v.require_timestamp("data.updated_at", raw)
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class AppTagsSet(Payload):
    TYPE: ClassVar[str] = "app.tags_set"
    tags: tuple[str, ...]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AppTagsSet:
        return cls(tags=v.require_str_list("data.tags", _req(data, "tags")))


@dataclass(frozen=True, slots=True)
class AppModelConfigPublished(Payload):
    """The published model config; `config` holds the known keys that were present and not null."""

    TYPE: ClassVar[str] = "app.model_config_published"
    config: dict[str, Any]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AppModelConfigPublished:
        return cls(config=check_feature_keys(data, prefix="data"))


@dataclass(frozen=True, slots=True)
class AppWorkflowPublished(Payload):
    TYPE: ClassVar[str] = "app.workflow_published"
    workflow_id: str
    features: dict[str, Any]
    start_variables: tuple[dict[str, Any], ...]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AppWorkflowPublished:
        workflow_id = v.require_text("data.workflow_id", _req(data, "workflow_id"))
        features = v.require_object("data.features", _req(data, "features"), nullable=True) or {}
        variables = v.require_list("data.start_variables", _req(data, "start_variables"), nullable=True)
        checked: list[dict[str, Any]] = []
        for index, variable in enumerate(variables or []):
            field = f"data.start_variables[{index}]"
            item = v.require_object(field, variable)
            assert item is not None
            v.require_text(f"{field}.variable", item.get("variable"))
            v.require_text(f"{field}.type", item.get("type"))
            checked.append(item)
        return cls(
            workflow_id=workflow_id,
            features=check_feature_keys(features, prefix="data.features"),
            start_variables=tuple(checked),
        )


@dataclass(frozen=True, slots=True)
class AppDeleted(Payload):
    TYPE: ClassVar[str] = "app.deleted"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AppDeleted:
        return cls()


def check_feature_keys(data: dict[str, Any], *, prefix: str) -> dict[str, Any]:
    """Keep the model-config keys that are present and not null, checking each one's type."""
    config: dict[str, Any] = {}
    for key in MODEL_CONFIG_KEYS:
        value = data.get(key)
        if value is None:
            continue
        field = f"{prefix}.{key}"
        if key == "opening_statement":
            v.require_str(field, value)
        elif key in ("suggested_questions", "user_input_form"):
            v.require_list(field, value)
        else:
            v.require_object(field, value)
        config[key] = value
    return config


# --- session stream ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionIssued(Payload):
    TYPE: ClassVar[str] = "session.issued"
    token_hash: str
    prefix: str
    subject_type: str
    account_id: str | None
    subject_email: str | None
    subject_issuer: str | None
    client_id: str
    device_label: str | None
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SessionIssued:
        token_hash = v.require_text("data.token_hash", _req(data, "token_hash"))
        if len(token_hash) != 64 or any(c not in "0123456789abcdef" for c in token_hash):
            raise EventValidationError("data.token_hash", "expected 64 lowercase hex characters")
        prefix = v.require_choice("data.prefix", _req(data, "prefix"), ("dfoa_", "dfoe_"))
        subject_type = v.require_choice(
            "data.subject_type", _req(data, "subject_type"), ("account", "external_sso")
        )
        if (prefix == "dfoa_") != (subject_type == "account"):
            raise EventValidationError(
                "data.prefix", f"{prefix} does not go with subject_type {subject_type}"
            )
        account_id = v.require_uuid("data.account_id", _req(data, "account_id"), nullable=True)
        if subject_type == "account" and account_id is None:
            raise EventValidationError("data.account_id", "is required for an account session")
        if subject_type == "external_sso" and account_id is not None:
            raise EventValidationError("data.account_id", "must be null for an external_sso session")
        created_at = v.require_timestamp("data.created_at", _req(data, "created_at"))
        assert created_at is not None
        return cls(
            token_hash=token_hash,
            prefix=prefix,
            subject_type=subject_type,
            account_id=account_id,
            subject_email=v.require_str("data.subject_email", _req(data, "subject_email"), nullable=True),
            subject_issuer=v.require_str("data.subject_issuer", _req(data, "subject_issuer"), nullable=True),
            client_id=v.require_text("data.client_id", _req(data, "client_id")),
            device_label=v.require_str("data.device_label", _req(data, "device_label"), nullable=True),
            created_at=created_at,
            expires_at=v.require_timestamp("data.expires_at", _req(data, "expires_at"), nullable=True),
        )


@dataclass(frozen=True, slots=True)
class SessionUsed(Payload):
    TYPE: ClassVar[str] = "session.used"
    last_used_at: datetime

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SessionUsed:
        at = v.require_timestamp("data.last_used_at", _req(data, "last_used_at"))
        assert at is not None
        return cls(last_used_at=at)


@dataclass(frozen=True, slots=True)
class SessionRevoked(Payload):
    TYPE: ClassVar[str] = "session.revoked"
    revoked_at: datetime

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SessionRevoked:
        at = v.require_timestamp("data.revoked_at", _req(data, "revoked_at"))
        assert at is not None
        return cls(revoked_at=at)


# --- registry and upcasting -------------------------------------------------------------

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        WorkspaceCreated,
        WorkspaceRenamed,
        WorkspaceStatusChanged,
        WorkspaceMemberJoined,
        WorkspaceMemberRoleChanged,
        WorkspaceMemberLeft,
        WorkspaceMemberMadeCurrent,
        AccountCreated,
        AccountUpdated,
        AppCreated,
        AppUpdated,
        AppTagsSet,
        AppModelConfigPublished,
        AppWorkflowPublished,
        AppDeleted,
        SessionIssued,
        SessionUsed,
        SessionRevoked,
    )
}

# The newest `schema` of each type's data. A type's shape changes by bumping this and
# registering an upcaster from the previous schema; stored events are never rewritten.
LATEST_SCHEMA: dict[str, int] = dict.fromkeys(PAYLOAD_TYPES, 1)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_schema: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns `data` of `from_schema` into `from_schema + 1`."""

    def decorate(upcaster: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_schema)] = upcaster
        return upcaster

    return decorate


def upcast(event_type: str, schema: int, data: dict[str, Any]) -> dict[str, Any]:
    """Bring `data` from its stored schema up to the latest one."""
    latest = LATEST_SCHEMA[event_type]
    if schema > latest:
        raise EventValidationError("schema", f"{event_type} schema {schema} is newer than {latest}")
    while schema < latest:
        upcaster = UPCASTERS.get((event_type, schema))
        if upcaster is None:
            raise EventValidationError("schema", f"no upcaster for {event_type} schema {schema}")
        data = upcaster(data)
        schema += 1
    return data


def is_known_type(event_type: str) -> bool:
    return event_type in PAYLOAD_TYPES


def parse_payload(event_type: str, schema: int, data: dict[str, Any]) -> Payload:
    """Validate and type an event's data (upcast first); raises EventValidationError."""
    cls = PAYLOAD_TYPES.get(event_type)
    if cls is None:
        raise EventValidationError("type", f"unknown event type {event_type!r}")
    return cls.from_data(upcast(event_type, schema, data))
