"""Version assignment against a real event store (SQLite), including a retried batch."""

from __future__ import annotations

import pytest

from projector.capture.drafts import Draft, DraftList
from projector.capture.versions import assign_versions
from projector.store import EventStore

WS = "11111111-1111-4111-8111-111111111111"
ACCOUNT = "22222222-2222-4222-8222-222222222222"
AT = "2026-04-27T10:00:00+00:00"


@pytest.fixture
def store_backend() -> str:
    return "sqlite"


def batch(source: str, *names: str) -> list[Draft]:
    out = DraftList(source, AT)
    out.add("workspace.created", f"workspace:{WS}", WS, {"name": names[0], "status": "normal"})
    for name in names[1:]:
        out.add("workspace.renamed", f"workspace:{WS}", WS, {"name": name})
    return out.drafts


def test_versions_follow_the_store_and_the_batch(event_store: EventStore) -> None:
    first = assign_versions(batch("c1", "A", "B"), event_store)
    assert [e.version for e in first.events] == [1, 2]
    event_store.append(first.events)
    out = DraftList("c2", AT)
    out.add("workspace.renamed", f"workspace:{WS}", WS, {"name": "C"})
    out.add(
        "account.created", f"account:{ACCOUNT}", None, {"name": "Ada", "email": "a@x", "status": "active"}
    )
    second = assign_versions(out.drafts, event_store)
    assert [(e.stream, e.version) for e in second.events] == [
        (f"workspace:{WS}", 3),
        (f"account:{ACCOUNT}", 1),
    ]


def test_an_update_without_its_stream_is_left_out(event_store: EventStore) -> None:
    out = DraftList("c1", AT)
    out.add("account.updated", f"account:{ACCOUNT}", None, {"name": "Ada"})
    result = assign_versions(out.drafts, event_store)
    assert result.events == ()
    assert [d.type for d in result.without_stream] == ["account.updated"]


def test_a_draft_breaking_the_contract_is_refused_and_its_followers_lose_their_stream(
    event_store: EventStore,
) -> None:
    out = DraftList("c1", AT)
    out.add("account.created", f"account:{ACCOUNT}", None, {"name": "Ada", "email": "a@x", "status": "weird"})
    out.add("account.updated", f"account:{ACCOUNT}", None, {"name": "Ada L."})
    result = assign_versions(out.drafts, event_store)
    assert result.events == ()
    assert [r.draft.type for r in result.refused] == ["account.created"]
    assert "data.status" in result.refused[0].reason
    assert len(result.without_stream) == 1


def test_a_batch_appended_before_a_crash_is_recognised(event_store: EventStore) -> None:
    drafts = batch("c1", "A", "B", "C")
    event_store.append(assign_versions(drafts, event_store).events)
    # The cursor was never saved: the same changes are translated again.
    retried = assign_versions(drafts, event_store)
    assert retried.events == ()
    assert retried.already_stored == 3
    assert event_store.count() == 3


def test_a_retry_with_a_larger_batch_appends_only_the_new_part(event_store: EventStore) -> None:
    first = batch("c1", "A", "B")
    event_store.append(assign_versions(first, event_store).events)
    out = DraftList("c2", AT)
    out.add("workspace.renamed", f"workspace:{WS}", WS, {"name": "C"})
    retried = assign_versions([*first, *out.drafts], event_store)
    assert retried.already_stored == 2
    assert [(e.data["name"], e.version) for e in retried.events] == [("C", 3)]


def test_a_retry_with_a_smaller_batch_appends_nothing(event_store: EventStore) -> None:
    first = batch("c1", "A", "B")
    out = DraftList("c2", AT)
    out.add("workspace.renamed", f"workspace:{WS}", WS, {"name": "C"})
    event_store.append(assign_versions([*first, *out.drafts], event_store).events)
    retried = assign_versions(first, event_store)
    assert retried.events == ()
    assert retried.already_stored == 2
    assert assign_versions(out.drafts, event_store).already_stored == 1
