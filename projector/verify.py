"""Verification: fold the store in memory and compare with Redis, document by document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from projector.fold.memory import MemoryProjection
from projector.fold.redis_dump import dump_generation
from projector.fold.scope import WorkspaceScope
from shared.events import StoredEvent
from shared.readmodel import keys


@dataclass(frozen=True, slots=True)
class Difference:
    """One key where Redis and the store's fold disagree."""

    key: str
    kind: str  # "missing" (in the fold only), "unexpected" (in Redis only), "different"
    expected: object
    actual: object

    def describe(self) -> str:
        if self.kind == "missing":
            return f"missing     {self.key}: expected {_show(self.expected)}"
        if self.kind == "unexpected":
            return f"unexpected  {self.key}: {_show(self.actual)}"
        return f"different   {self.key}: expected {_show(self.expected)}, found {_show(self.actual)}"


def fold_in_memory(events: Iterable[StoredEvent]) -> MemoryProjection:
    """The read model the store implies, by the projector's own fold."""
    model = MemoryProjection()
    model.fold_all(events)
    return model


def compare(expected: dict[str, object], actual: dict[str, object]) -> list[Difference]:
    differences: list[Difference] = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual:
            differences.append(Difference(key, "missing", expected[key], None))
        elif key not in expected:
            differences.append(Difference(key, "unexpected", None, actual[key]))
        elif expected[key] != actual[key]:
            differences.extend(_field_differences(key, expected[key], actual[key]))
    return differences


def _field_differences(key: str, expected: object, actual: object) -> list[Difference]:
    """A hash or sorted set that differs, member by member, so the report names what changed."""
    if not (isinstance(expected, dict) and isinstance(actual, dict)):
        return [Difference(key, "different", expected, actual)]
    found: list[Difference] = []
    for member in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(member), actual.get(member)
        if want == have:
            continue
        kind = "missing" if have is None else "unexpected" if want is None else "different"
        found.append(Difference(f"{key} {member}", kind, _decoded(want), _decoded(have)))
    return found


def verify(
    events: Iterable[StoredEvent], redis: Any, generation: str, *, workspace_id: str | None = None
) -> list[Difference]:
    """Every difference between the fold of `events` and `generation` in Redis."""
    model = fold_in_memory(events)
    expected = model.dump()
    actual = dump_generation(redis, generation)
    if workspace_id is not None:
        scope = WorkspaceScope(workspace_id, _app_ids(model, workspace_id))
        expected = scope.restrict(expected)
        actual = scope.restrict(actual)
    return compare(expected, actual)


def _app_ids(model: MemoryProjection, workspace_id: str) -> frozenset[str]:
    """The ids of every app the store puts in the workspace (deleted ones included)."""
    states = keys.stream_state(workspace_id, "app:")
    return frozenset(key[len(states) :] for key in model.hashes if key.startswith(states))


def _show(value: object) -> str:
    if isinstance(value, dict):
        value = {k: _decoded(v) for k, v in value.items()}  # type: ignore[assignment]
    elif isinstance(value, set):
        value = sorted(value)  # type: ignore[arg-type]
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 300 else text[:297] + "..."


def _decoded(value: object) -> object:
    if isinstance(value, bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value.decode(errors="replace")
    return value
