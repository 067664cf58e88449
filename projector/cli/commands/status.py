"""`readmodel status`: what the store holds, section by section (human text or --json).

A part of the system adds a section by appending a function to SECTIONS; a failing
section is reported in place and makes the exit code 1, the others still show.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projector.cli.commands import Subparsers
from projector.cli.wiring import open_store
from shared.errors import ReadModelError
from shared.settings import Settings

if TYPE_CHECKING:
    from projector.store import EventStore


@dataclass(frozen=True, slots=True)
class StatusContext:
    """What a section may look at; it builds any other client it needs from the settings."""

    settings: Settings
    store: EventStore


@dataclass(frozen=True, slots=True)
class Section:
    """One block of the status: `data` for --json, `lines` for people."""

    name: str
    data: dict[str, Any]
    lines: tuple[str, ...]


def store_section(context: StatusContext) -> Section:
    """The event store: where it is, its head position and how many events of each type."""
    counts = context.store.type_counts()
    head = context.store.head_position()
    total = sum(counts.values())
    database = context.settings.redacted()["database_url"]
    lines = [f"database: {database}", f"head position: {head}", f"events: {total}"]
    lines.extend(f"  {event_type}: {count}" for event_type, count in counts.items())
    return Section(
        name="store",
        data={"database": database, "head_position": head, "events": total, "types": counts},
        lines=tuple(lines),
    )


def read_model_section(context: StatusContext) -> Section:
    """The relay cursor, the projector's watermark and lag, generations, rebuilds."""
    if context.settings.redis_is_embedded:
        note = "Redis is embedded: its figures are only visible inside `readmodel up`"
        return Section(name="read_model", data={"embedded": True}, lines=(note,))
    from projector.cli.wiring import connect_redis
    from projector.status_report import describe, read_model_status

    redis = connect_redis(context.settings)
    try:
        status = read_model_status(context.store, redis)
    except Exception as error:  # Redis unreachable: report it in place
        raise ReadModelError(f"Redis: {error}") from error
    finally:
        redis.close()
    return Section(name="read_model", data=status, lines=tuple(describe(status)))


SECTIONS: list[Callable[[StatusContext], Section]] = [store_section, read_model_section]


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("status", help="show the store's head position and event counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    failed = False
    sections: list[Section] = []
    with open_store(settings, migrate_schema=False) as store:  # looking changes nothing
        context = StatusContext(settings=settings, store=store)
        for build in SECTIONS:
            try:
                sections.append(build(context))
            except ReadModelError as error:
                failed = True
                name = build.__name__.removesuffix("_section")
                sections.append(Section(name, {"error": str(error)}, (f"error: {error}",)))
    if args.json:
        body = {section.name: section.data for section in sections}
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        for section in sections:
            print(section.name)
            for line in section.lines:
                print(f"  {line}")
    return 1 if failed else 0
