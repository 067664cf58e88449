"""Structured logs: one JSON object per line, with the request id and no secret in it."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any

import orjson

# The id of the API request being served on this thread, for every line logged meanwhile.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("readmodel_request_id", default=None)

FIELDS = "fields"  # the `extra` key under which `log_event` passes its structured fields
# Marks a record built from values that cannot hold a secret (see `log_clean`).
_CLEAN = "_clean"

# Whatever a line says, these never leave it: bearer tokens (by scheme or by prefix), a
# `token=` query parameter (a token pasted into a URL; the status page never asks for one),
# and passwords inside URLs.
_SCRUBBERS = (
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"\b(dfo[ae]_)[A-Za-z0-9_\-]+"), r"\1***"),
    (re.compile(r"(?i)([?&;\s]token=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(://[^/:@\s]+:)[^@/\s]+@"), r"\1***@"),
)

# Info lines libraries write at every start that tell an operator nothing: alembic names each
# plugin it loads and its dialect (the upgrades it runs still show). (logger, message prefix)
_CHATTER = (
    ("alembic.runtime.plugins", "setup plugin "),
    ("alembic.runtime.migration", "Context impl "),
    ("alembic.runtime.migration", "Will assume "),
)

# Attributes every LogRecord has: anything else on a record came in through `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", FIELDS}


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with tokens, passwords and the given secret values masked."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, message, request_id and fields."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secret for secret in secrets if secret)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, Mapping):
            line.update(fields)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        text = orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        if record.__dict__.get(_CLEAN):
            return text
        return scrub(text, self._secrets)


class _DropChatter(logging.Filter):
    """Drops the _CHATTER lines (at info level and below only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not isinstance(record.msg, str):
            return True
        return not any(record.name == name and record.msg.startswith(prefix) for name, prefix in _CHATTER)


def configure_logging(
    *, level: int | str = logging.INFO, stream: IO[str] | None = None, secrets: Iterable[str] = ()
) -> logging.Handler:
    """Send every log record to `stream` (stderr) as JSON lines; returns the handler installed.

    Replaces the root logger's handlers, so calling it again (a test, a second command) does
    not print each line twice.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets=secrets))
    handler.addFilter(_DropChatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event of interest: `event` is the message, `fields` become keys of the JSON line."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={FIELDS: {"event": event, **fields}})


def log_clean(
    logger: logging.Logger, event: str, fields: Mapping[str, Any], *, level: int = logging.INFO
) -> None:
    """`log_event` for a line per request, at a third of the cost.

    No caller look-up and no scrubbing pass: only for fields that cannot hold a secret by
    construction (numbers, names from code, ids checked by `scrub`).
    """
    if logger.isEnabledFor(level):
        extra = {FIELDS: fields, _CLEAN: True}
        logger.handle(logger.makeRecord(logger.name, level, "", 0, event, (), None, extra=extra))


def log_startup(logger: logging.Logger, command: str, settings: Any) -> None:
    """The first line of a process: the command and its settings, secrets redacted."""
    log_event(logger, "starting", command=command, settings=settings.redacted())
