"""Settings: read once from a mapping; a value that cannot work names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import EMBEDDED, Settings


def test_the_defaults_are_the_embedded_single_process_ones(tmp_path: Path) -> None:
    settings = Settings.from_env({}, cwd=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'readmodel.db'}"
    assert settings.broker_url == "memory://"
    assert settings.redis_url == EMBEDDED
    assert (settings.host, settings.port) == ("127.0.0.1", 5001)
    assert settings.upload_limits.file_size_limit == 15


@pytest.mark.parametrize(
    ("value", "on"), [("", True), ("1", True), ("on", True), ("0", False), ("OFF", False)]
)
def test_the_access_log_is_on_unless_turned_off(value: str, on: bool) -> None:
    assert Settings.from_env({"READMODEL_ACCESS_LOG": value}).access_log is on


def test_postgres_urls_get_the_psycopg_driver() -> None:
    settings = Settings.from_env({"READMODEL_DATABASE_URL": "postgres://u@db/x"})
    assert settings.database_url == "postgresql+psycopg://u@db/x"


def test_a_redis_cluster_url_is_accepted_for_the_read_model() -> None:
    settings = Settings.from_env({"READMODEL_REDIS_URL": "redis+cluster://127.0.0.1:7000"})
    assert settings.redis_url == "redis+cluster://127.0.0.1:7000"


def test_upload_limits_use_difys_names() -> None:
    settings = Settings.from_env({"UPLOAD_IMAGE_FILE_SIZE_LIMIT": "12", "WORKFLOW_FILE_UPLOAD_LIMIT": "3"})
    assert settings.upload_limits.image_file_size_limit == 12
    assert settings.upload_limits.workflow_file_upload_limit == 3


def test_difys_rate_limits_are_on_by_default_and_named_as_in_dify() -> None:
    limits = Settings.from_env({}).rate_limits
    assert (limits.per_token, limits.per_account, limits.redis_url) == (60, 60, None)
    assert Settings.from_env({"OPENAPI_RATE_LIMIT_PER_TOKEN": "0"}).rate_limits.per_token == 0
    assert (
        Settings.from_env({"OPENAPI_RATE_LIMIT_PER_TOKEN": "-5"}).rate_limits.per_token == 0
    )  # off, as in Dify
    shared = Settings.from_env(
        {
            "READMODEL_RATE_LIMIT_REDIS_URL": "redis://dify-redis:6379/0",
            "READMODEL_RATE_LIMIT_KEY_PREFIX": " dify ",
        }
    ).rate_limits
    assert (shared.redis_url, shared.key_prefix) == ("redis://dify-redis:6379/0", "dify")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("OPENAPI_RATE_LIMIT_PER_TOKEN", "lots", "expected an integer"),
        ("READMODEL_ACCOUNT_RATE_LIMIT_PER_MINUTE", "-1", "out of range"),
        ("READMODEL_RATE_LIMIT_REDIS_URL", "http://dify-redis", "unsupported URL scheme"),
        ("READMODEL_DATABASE_URL", "mysql://db/x", "unsupported URL scheme"),
        ("READMODEL_BROKER_URL", "amqp://", "no host"),
        ("READMODEL_REDIS_URL", "redis://127.0.0.1:notaport/0", "bad port"),
        ("READMODEL_REDIS_URL", "redis-cluster://127.0.0.1:7000", "redis+cluster"),
        ("READMODEL_BROKER_URL", "redis+cluster://127.0.0.1:7000", "not supported"),
        ("READMODEL_PORT", "eighty", "expected an integer"),
        ("READMODEL_PORT", "70000", "out of range"),
        ("READMODEL_STALL_SECONDS", "-1", "must be positive"),
        ("READMODEL_ACCESS_LOG", "sometimes", "expected 1 or 0"),
    ],
)
def test_a_value_that_cannot_work_names_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({name: value})
    message = str(refused.value)
    assert message.startswith(f"{name}: ")
    assert says in message
    assert "\n" not in message


def test_multi_process_commands_refuse_the_embedded_services() -> None:
    settings = Settings.from_env({})
    with pytest.raises(ConfigurationError, match=r"^READMODEL_REDIS_URL: `serve`"):
        settings.require_shared_redis("serve")
    with pytest.raises(ConfigurationError, match=r"^READMODEL_BROKER_URL: `relay`"):
        settings.require_shared_broker("relay")


def test_secrets_are_redacted_for_the_startup_log() -> None:
    settings = Settings.from_env(
        {
            "READMODEL_BROKER_URL": "amqp://guest:s3cret@mq:5672//",
            "READMODEL_ADMIN_TOKEN": "t0ken",
            "READMODEL_RATE_LIMIT_REDIS_URL": "redis://:hush@dify-redis:6379/0",
        },
    )
    shown = str(settings.redacted())
    assert "s3cret" not in shown
    assert "t0ken" not in shown
    assert "hush" not in shown
