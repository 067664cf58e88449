"""Projecting a batch of deliveries at once: fold every event, then derive each state once.

A delivery is an event for one owner (shared/readmodel/owners.py). The owner folds it into
the stream it holds, its own or its copy of another owner's: a workspace keeps a copy of
each account whose name its apps show, an account a copy of each workspace it belongs to
(only what makes its membership). The batch's change is, per owner, the difference between
the records of every state it touched at the start of the batch and at its end, with the
stream versions it read (the owner's gate); and the keys found by an id alone (tokens, app
locators), each written whole with the versions it derives from. The result must equal
applying the events one by one, which the property tests check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from projector.fold.derive import (
    account_records,
    app_locator,
    app_records,
    author_records,
    membership_records,
    membership_view,
    session_records,
    stream_records,
    token_fields,
    workspace_records,
)
from projector.fold.fold import fold
from projector.fold.projection import Duplicate, Gap, NotShown, Slot, StateView, StoreReads
from projector.fold.records import DELETE, Op, Records, diff
from projector.fold.state import (
    MEMBERSHIP,
    AccountState,
    AppState,
    MembershipView,
    SessionState,
    State,
    WorkspaceState,
    state_kind,
)
from shared.errors import EventValidationError
from shared.events import StoredEvent
from shared.events.payloads import is_known_type
from shared.readmodel import keys
from shared.readmodel.owners import ACCOUNT, SSO, WORKSPACE, owner_id, owner_kind


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """One owner's writes: `ops` apply only while every (state key, version) of `checks` holds."""

    owner: str
    checks: tuple[tuple[str, int], ...]
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class KeyWrite:
    """A key found by an id alone, replaced by `fields` unless it holds a later version
    already (any of `versions` higher), so that no writer moves it backwards."""

    key: str
    versions: tuple[tuple[str, int], ...]
    fields: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class BatchChange:
    """A batch's net effect, owner by owner, and the keys found by an id alone."""

    position: int
    owners: tuple[OwnerChange, ...]
    writes: tuple[KeyWrite, ...]


@dataclass(slots=True)
class BatchFold:
    """Folds deliveries into end states, remembering the state each slot had at the start."""

    view: StateView
    store: StoreReads
    start: dict[Slot, tuple[int, State | None]] = field(default_factory=dict)
    current: dict[Slot, tuple[int, State | None]] = field(default_factory=dict)
    changed: dict[Slot, None] = field(default_factory=dict)  # ordered set
    position: int = 0
    # Copies this batch takes up (an app's author the workspace had no copy of yet).
    _taken_up: set[Slot] = field(default_factory=set)
    # Memberships to read again from the store (a membership event reached the account).
    _refresh: dict[Slot, None] = field(default_factory=dict)

    def read(self, slot: Slot) -> tuple[int, State | None]:
        found = self.current.get(slot)
        if found is None:
            found = self.view.state(slot)
            self.start[slot] = found
            self.current[slot] = found
        return found

    def holds(self, slot: Slot) -> bool:
        return slot in self._taken_up or self.view.holds(slot)

    def step(self, stored: StoredEvent, owner: str) -> Duplicate | Gap | NotShown | str | None:
        """Fold one event for `owner`; returns Duplicate, Gap, NotShown or why it was skipped
        (None when folded).

        Raises EventValidationError for an invalid payload, leaving the batch unchanged.
        """
        event = stored.event
        slot = (owner, event.stream)
        if state_kind(owner, event.stream) == MEMBERSHIP:
            version, _ = self.read(slot)
            if event.version <= version:
                return Duplicate(version)
            event.payload()  # an invalid event is poison here too
            # The membership is read again from the store: the account sees only the
            # workspace's events that name it, so it cannot tell a gap from another's event.
            self._refresh[slot] = None
            self.position = max(self.position, stored.position)
            return None
        if owner != stored.owner and not self.holds(slot):
            return NotShown()
        version, state = self.read(slot)
        if event.version <= version:
            return Duplicate(version)
        if event.version > version + 1:
            return Gap(owner, event.stream, version + 1, event.version - 1)
        skipped: str | None = None
        if is_known_type(event.type):
            new_state = fold(state, event.payload(), event, stored.position)
        else:
            new_state, skipped = state, f"unknown event type {event.type!r}"
        self.current[slot] = (event.version, new_state)
        self.changed[slot] = None
        self.position = max(self.position, stored.position)
        return skipped

    def wanted_copies(self) -> list[Slot]:
        """The copies of accounts this batch's apps show that their workspaces may not hold:
        read them (`StateView.holds`) before `complete`."""
        found: dict[Slot, None] = {}
        for slot in self.changed:
            owner, stream = slot
            if stream.startswith("app:"):
                _, state = self.current[slot]
                if isinstance(state, AppState):
                    found[(owner, f"account:{state.created_by}")] = None
        return list(found)

    def complete(self) -> None:
        """Take up the copies the batch's apps need, and read the memberships again."""
        taken = [slot for slot in self.wanted_copies() if not self.holds(slot)]
        if taken:
            streams = self.store.read_streams([stream for _, stream in taken])
            for slot in taken:
                self._take_up(slot, streams[slot[1]])
        if not self._refresh:
            return
        pairs = {slot: (slot[1].partition(":")[2], owner_id(slot[0])) for slot in self._refresh}
        histories = self.store.membership_events(list(pairs.values()))
        for slot, pair in pairs.items():
            version, state = _fold_history(histories.get(pair, []))
            assert state is None or isinstance(state, WorkspaceState)
            if version > self.read(slot)[0]:
                self.current[slot] = (version, membership_view(pair[0], pair[1], state))
                self.changed[slot] = None
        self._refresh.clear()

    def _take_up(self, slot: Slot, history: list[StoredEvent]) -> None:
        """Start a workspace's copy of an account from the account's events in the store: all
        the copies it was not sent before it showed the account are there."""
        self.read(slot)
        version, state = _fold_history(history, contiguous=True)
        self.current[slot] = (version, state)
        self.changed[slot] = None
        self._taken_up.add(slot)

    def change(self) -> BatchChange:
        """The net operations from the start states to the end states."""
        ops: dict[str, list[Op]] = {}
        writes: dict[str, KeyWrite] = {}
        status_changed: list[str] = []
        for slot in self.changed:
            owner, stream = slot
            oid = owner_id(owner)
            version, end = self.current[slot]
            _, begin = self.start[slot]
            owner_ops = ops.setdefault(owner, [])
            before = _records(slot, begin, render=False)
            if _deleted_now(begin, end):
                # Written afresh, the hash of a deleted app (its version and author) is kept
                # compact by Redis (a listpack), not in the table its documents needed.
                key = keys.stream_state(oid, stream)
                owner_ops.append((DELETE, key, "", b""))
                before = {record: value for record, value in before.items() if record[1] != key}
            owner_ops.extend(diff({}, stream_records(oid, stream, version, end)))
            owner_ops.extend(diff(before, _records(slot, end)))
            if isinstance(end, AppState) or isinstance(begin, AppState):
                self._locator(slot, writes)
            elif isinstance(end, SessionState):
                self._token(slot, writes)
            elif owner_kind(owner) == ACCOUNT and _status(begin) != _status(end):
                status_changed.append(owner)
        for slot in self._sessions_of(status_changed):
            if slot not in self.changed:
                self._token(slot, writes)
        checks: dict[str, list[tuple[str, int]]] = {}
        for (owner, stream), (version, _) in self.start.items():
            if ops.get(owner):
                checks.setdefault(owner, []).append((keys.stream_state(owner_id(owner), stream), version))
        changes = tuple(
            OwnerChange(owner, tuple(checks[owner]), tuple(owner_ops))
            for owner, owner_ops in ops.items()
            if owner_ops
        )
        return BatchChange(position=self.position, owners=changes, writes=tuple(writes.values()))

    def _sessions_of(self, accounts: list[str]) -> list[Slot]:
        """Every live session of these accounts, whose tokens carry their status: those in
        Redis and those this batch changed."""
        if not accounts:
            return []
        sets = {owner: keys.account_sessions(owner_id(owner)) for owner in accounts}
        self.view.prefetch_members(list(sets.values()))
        found: dict[Slot, None] = {}
        for owner, key in sets.items():
            found.update(((owner, f"session:{sid}"), None) for sid in sorted(self.view.members(key)))
        for slot in self.changed:
            if slot[0] in sets and slot[1].startswith("session:"):
                found[slot] = None
        self.view.prefetch([slot for slot in found if slot not in self.current])
        return list(found)

    def _token(self, slot: Slot, writes: dict[str, KeyWrite]) -> None:
        """The session's token, if what it says changed (with the account's status)."""
        owner, _ = slot
        session_version, end = self.read(slot)
        _, begin = self.start[slot]
        if not isinstance(end, SessionState) or _subject(end) != owner:
            return  # a session stream that did not start with its issue has no token
        assert begin is None or isinstance(begin, SessionState)
        versions: list[tuple[str, int]] = [("sv", session_version)]
        before_status = after_status = None
        if end.account_id is not None:
            account_slot = (owner, f"account:{end.account_id}")
            account_version, account = self.read(account_slot)
            before_status, after_status = _status(self.start[account_slot][1]), _status(account)
            versions.append(("av", account_version))
        after = token_fields(end, after_status)
        if token_fields(begin, before_status) == after:
            return
        key = keys.token(end.token_hash)
        writes[key] = KeyWrite(key, tuple(versions), tuple(after.items()))

    def _locator(self, slot: Slot, writes: dict[str, KeyWrite]) -> None:
        version, end = self.current[slot]
        _, begin = self.start[slot]
        assert begin is None or isinstance(begin, AppState)
        assert end is None or isinstance(end, AppState)
        after = app_locator(end)
        if app_locator(begin) == after:
            return
        app_id = slot[1].partition(":")[2]
        key = keys.app_workspace(app_id)
        writes[key] = KeyWrite(key, (("v", version),), tuple(after.items()))


def _records(slot: Slot, state: State | None, *, render: bool = True) -> Records:
    """The records `state` makes in the keys of the slot's owner."""
    owner = slot[0]
    oid, kind = owner_id(owner), owner_kind(owner)
    if isinstance(state, AppState) and kind == WORKSPACE:
        return app_records(oid, state, render=render)
    if isinstance(state, WorkspaceState) and kind == WORKSPACE:
        return workspace_records(state)
    if isinstance(state, AccountState):
        return account_records(state) if kind == ACCOUNT else author_records(oid, state.id, state)
    if isinstance(state, MembershipView):
        return membership_records(oid, state)
    if isinstance(state, SessionState) and _subject(state) == owner:
        return session_records(oid, state)
    return {}


def _subject(state: SessionState) -> str:
    """The owner a session's issue names: its account, or its SSO subject."""
    if state.account_id is not None:
        return f"{ACCOUNT}:{state.account_id}"
    return f"{SSO}:{keys.sso_subject(state.subject_email, state.subject_issuer)}"


def _fold_history(history: list[StoredEvent], *, contiguous: bool = False) -> tuple[int, State | None]:
    """Fold events in order up to the first that cannot be applied (invalid, or with
    `contiguous` a missing version); returns (last version folded, state)."""
    version, state = 0, None
    for stored in history:
        event = stored.event
        if contiguous and event.version != version + 1:
            break
        try:
            if is_known_type(event.type):
                state = fold(state, event.payload(), event, stored.position)
        except EventValidationError:
            break
        version = event.version
    return version, state


def _deleted_now(begin: State | None, end: State | None) -> bool:
    """Whether an app held before was deleted since (its hash then holds its state alone)."""
    return isinstance(begin, AppState) and not begin.deleted and isinstance(end, AppState) and end.deleted


def _status(state: State | None) -> str | None:
    return state.status if isinstance(state, AccountState) else None
