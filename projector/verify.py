"""Verification: fold the store in memory and compare with Redis, document by document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from projector.fold.memory import MemoryReadModel
from projector.fold.redis_dump import dump_generation
from projector.fold.scope import WorkspaceScope
from projector.fold.state import AppState
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


def oracle(events: Iterable[StoredEvent]) -> MemoryReadModel:
    """The read model the store implies."""
    model = MemoryReadModel()
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
    model = oracle(events)
    expected = model.dump()
    actual = dump_generation(redis, generation)
    if workspace_id is not None:
        scope = WorkspaceScope(workspace_id, _app_ids(model, workspace_id))
        expected = scope.restrict(expected)
        actual = scope.restrict(actual)
    return compare(expected, actual)


def _app_ids(model: MemoryReadModel, workspace_id: str) -> frozenset[str]:
    """The ids of every app the store puts in the workspace (deleted ones included)."""
    found: set[str] = set()
    app_states, stream_of = keys.stream_state("app:"), len(keys.stream_state(""))
    for key in model.hashes:
        if key.startswith(app_states):
            _, state = model.state(key[stream_of:])
            if isinstance(state, AppState) and state.workspace_id == workspace_id:
                found.add(state.id)
    return frozenset(found)


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
