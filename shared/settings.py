"""Settings: one frozen object, read once from an explicit mapping (normally os.environ)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared.errors import ConfigurationError

EMBEDDED = "embedded"
DEFAULT_DIFY_VERSION = "1.14.2"
# Dify's editions as its EDITION and ENTERPRISE_ENABLED settings make them.
DIFY_EDITIONS = ("SELF_HOSTED", "CLOUD", "ENTERPRISE")

_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
_BROKER_SCHEMES = ("memory", "amqp", "amqps", "pyamqp", "redis", "rediss")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")  # a Redis Cluster: any node, the others are discovered


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Dify's file upload limits, served as `system_parameters`."""

    image_file_size_limit: int = 10
    video_file_size_limit: int = 100
    audio_file_size_limit: int = 50
    file_size_limit: int = 15
    workflow_file_upload_limit: int = 10


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Dify's budgets on /openapi/v1, per minute (0: off): every bearer's, and each account's
    on GET /account. `redis_url` names Dify's own Redis to share its buckets (None: the read
    model's), `key_prefix` Dify's REDIS_KEY_PREFIX there."""

    per_token: int = 60
    per_account: int = 60
    redis_url: str | None = None
    key_prefix: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a process needs to know about its environment."""

    database_url: str
    broker_url: str = "memory://"
    redis_url: str = EMBEDDED
    host: str = "127.0.0.1"
    port: int = 5001
    dify_version: str = DEFAULT_DIFY_VERSION
    dify_edition: str = "SELF_HOSTED"
    upload_limits: UploadLimits = UploadLimits()
    rate_limits: RateLimits = RateLimits()
    admin_token: str | None = None
    metrics_port: int = 9108
    ready_max_lag_seconds: float = 30.0
    stall_seconds: float = 30.0
    partitions: int = 1
    access_log: bool = True
    # prometheus_client's own variable: where worker processes share their metric values.
    metrics_multiprocess_dir: str | None = None

    @property
    def redis_is_embedded(self) -> bool:
        return self.redis_url == EMBEDDED

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
        """Read and check every setting; a value that cannot work raises ConfigurationError."""
        env = os.environ if env is None else env
        base = cwd or Path.cwd()
        database_url = env.get("READMODEL_DATABASE_URL") or f"sqlite:///{base / 'var' / 'readmodel.db'}"
        _check_url("READMODEL_DATABASE_URL", database_url, _DATABASE_SCHEMES)
        broker_url = env.get("READMODEL_BROKER_URL") or "memory://"
        _check_url("READMODEL_BROKER_URL", broker_url, _BROKER_SCHEMES)
        redis_url = env.get("READMODEL_REDIS_URL") or EMBEDDED
        if redis_url != EMBEDDED:
            _check_url("READMODEL_REDIS_URL", redis_url, _REDIS_SCHEMES, cluster=True)
        limits = UploadLimits(
            image_file_size_limit=_int(env, "UPLOAD_IMAGE_FILE_SIZE_LIMIT", 10),
            video_file_size_limit=_int(env, "UPLOAD_VIDEO_FILE_SIZE_LIMIT", 100),
            audio_file_size_limit=_int(env, "UPLOAD_AUDIO_FILE_SIZE_LIMIT", 50),
            file_size_limit=_int(env, "UPLOAD_FILE_SIZE_LIMIT", 15),
            workflow_file_upload_limit=_int(env, "WORKFLOW_FILE_UPLOAD_LIMIT", 10),
        )
        rate_limit_redis_url = env.get("READMODEL_RATE_LIMIT_REDIS_URL") or None
        if rate_limit_redis_url is not None:
            _check_url("READMODEL_RATE_LIMIT_REDIS_URL", rate_limit_redis_url, _REDIS_SCHEMES, cluster=True)
        rate_limits = RateLimits(
            # Dify turns its limit off at 0 or less.
            per_token=max(_int(env, "OPENAPI_RATE_LIMIT_PER_TOKEN", 60, lower=-(2**31)), 0),
            per_account=_int(env, "READMODEL_ACCOUNT_RATE_LIMIT_PER_MINUTE", 60),
            redis_url=rate_limit_redis_url,
            key_prefix=(env.get("READMODEL_RATE_LIMIT_KEY_PREFIX") or "").strip(),
        )
        return cls(
            database_url=_normalise_database_url(database_url),
            broker_url=broker_url,
            redis_url=redis_url,
            host=env.get("READMODEL_HOST") or "127.0.0.1",
            port=_int(env, "READMODEL_PORT", 5001, upper=65535),
            dify_version=env.get("READMODEL_DIFY_VERSION") or DEFAULT_DIFY_VERSION,
            dify_edition=_choice(env, "READMODEL_DIFY_EDITION", DIFY_EDITIONS),
            upload_limits=limits,
            rate_limits=rate_limits,
            admin_token=env.get("READMODEL_ADMIN_TOKEN") or None,
            metrics_port=_int(env, "READMODEL_METRICS_PORT", 9108, upper=65535),
            ready_max_lag_seconds=_float(env, "READMODEL_READY_MAX_LAG_SECONDS", 30.0),
            stall_seconds=_float(env, "READMODEL_STALL_SECONDS", 30.0),
            partitions=_int(env, "READMODEL_PARTITIONS", 1, lower=1, upper=1024),
            access_log=_flag(env, "READMODEL_ACCESS_LOG", default=True),
            metrics_multiprocess_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
        )

    def require_shared_redis(self, command: str) -> None:
        """Refuse a multi-process command on the in-process Redis stand-in."""
        if self.redis_is_embedded:
            raise ConfigurationError(
                f"READMODEL_REDIS_URL: `{command}` runs in several processes and cannot share "
                "the embedded Redis; set READMODEL_REDIS_URL to a real Redis (or use `readmodel up`)",
            )

    def require_shared_broker(self, command: str) -> None:
        """Refuse a stand-alone relay/projector on the in-process broker."""
        if self.broker_url.startswith("memory"):
            raise ConfigurationError(
                f"READMODEL_BROKER_URL: `{command}` in its own process cannot share the in-process "
                "memory:// broker; set READMODEL_BROKER_URL (or use `readmodel up`)",
            )

    def redacted(self) -> dict[str, object]:
        """The settings with secrets hidden, for a startup log line."""
        return {
            "database_url": _redact_url(self.database_url),
            "broker_url": _redact_url(self.broker_url),
            "redis_url": _redact_url(self.redis_url),
            "host": self.host,
            "port": self.port,
            "dify_version": self.dify_version,
            "dify_edition": self.dify_edition,
            "admin_token": "set" if self.admin_token else "unset",
            "rate_limit_per_token": self.rate_limits.per_token,
            "rate_limit_per_account": self.rate_limits.per_account,
            "rate_limit_redis_url": _redact_url(self.rate_limits.redis_url or "") or "the read model's",
            "partitions": self.partitions,
            "access_log": self.access_log,
        }


def _check_url(name: str, value: str, schemes: tuple[str, ...], *, cluster: bool = False) -> None:
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: malformed URL ({exc})") from exc
    if "cluster" in parts.scheme and not (cluster and parts.scheme in CLUSTER_SCHEMES):
        expected = f" (expected one of {', '.join(CLUSTER_SCHEMES)})" if cluster else " (not supported here)"
        raise ConfigurationError(f"{name}: Redis Cluster URL scheme {parts.scheme}://{expected}")
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in schemes:
        raise ConfigurationError(
            f"{name}: unsupported URL scheme {parts.scheme!r} (expected one of {', '.join(schemes)})",
        )
    if scheme not in ("sqlite", "memory", "unix") and not parts.hostname:
        raise ConfigurationError(f"{name}: malformed URL (no host in {_redact_url(value)!r})")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{name}: malformed URL (bad port)") from exc


def _normalise_database_url(url: str) -> str:
    # SQLAlchemy needs the psycopg 3 driver named explicitly.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _int(env: Mapping[str, str], name: str, default: int, *, lower: int = 0, upper: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: expected an integer, got {raw!r}") from None
    if value < lower or (upper is not None and value > upper):
        raise ConfigurationError(f"{name}: {value} is out of range")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name}: expected 1 or 0 (on/off, true/false, yes/no), got {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: expected a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name}: must be positive")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when unset)."""
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise ConfigurationError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
    return raw
