"""Which owners an event is delivered to: its stream's owner, and the owners keeping a copy.

- a membership event (`workspace.member_*`) also goes to the member's account, which keeps
  its memberships (`GET /workspaces`, `GET /account`);
- an account's event also goes to every workspace with an app the account created, which
  keeps the account's name for its rows (`created_by_name`, `author`).

The relay routes each event to the partitions of these owners; a rebuild, which is every
owner at once, delivers it to all of them. A workspace that takes up an account later (its
first app by that account) reads the account's events from the store, so a copy that went
out before the workspace knew of the account is not missed.
"""

from __future__ import annotations

from collections.abc import Sequence

from projector.fold.projection import References
from shared.events import StoredEvent
from shared.readmodel.owners import ACCOUNT, WORKSPACE, named_account


def addressees(events: Sequence[StoredEvent], references: References) -> list[tuple[str, ...]]:
    """For each event (its `owner` set), the owners it is delivered to, its own first."""
    accounts = list(dict.fromkeys(s.event.stream_id for s in events if s.event.stream_kind == ACCOUNT))
    authored = references.authored_workspaces(accounts) if accounts else {}
    found: list[tuple[str, ...]] = []
    for stored in events:
        event = stored.event
        assert stored.owner is not None, "the store decides every event's owner"
        owners = [stored.owner]
        if event.type.startswith("workspace.member_"):
            member = named_account(event)
            if member is not None:
                owners.append(f"{ACCOUNT}:{member}")
        elif event.stream_kind == ACCOUNT:
            owners.extend(f"{WORKSPACE}:{ws}" for ws in sorted(authored.get(event.stream_id, ())))
        found.append(tuple(dict.fromkeys(owners)))
    return found
