"""The event store: the append-only truth every read model is rebuilt from."""

from projector.store.engine import create_engine_for
from projector.store.event_store import AppendCounts, AppendResult, Cursor, EventStore
from projector.store.planning import AppendPlan, Problem, plan_append

__all__ = [
    "AppendCounts",
    "AppendPlan",
    "AppendResult",
    "Cursor",
    "EventStore",
    "Problem",
    "create_engine_for",
    "plan_append",
]
