"""`readmodel token issue`: record a new account session and print its token, once."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from projector.cli.commands import Subparsers, positive_int
from projector.cli.wiring import open_store
from shared.settings import Settings

# Dify's device flow issues a session for 30 days; a session without an expiry would work
# but, as in Dify, never be listed by /account/sessions.
DEFAULT_LIFETIME_DAYS = 30

if TYPE_CHECKING:
    from shared.events import StoredEvent


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("token", help="manage bearer tokens")
    actions = parser.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = actions.add_parser(
        "issue", help="issue a dfoa_ token for an account and print it (it is shown only once)"
    )
    issue.add_argument("--account", required=True, metavar="ID", help="the account's UUID")
    issue.add_argument("--label", metavar="TEXT", help="a device label shown in the session list")
    issue.add_argument(
        "--expires-in-days",
        type=positive_int,
        default=DEFAULT_LIFETIME_DAYS,
        metavar="N",
        help=f"expire the token after N days (default: {DEFAULT_LIFETIME_DAYS}, as Dify's CLI sessions)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return issue(args, settings)


def issue(args: argparse.Namespace, settings: Settings) -> int:
    """Append a `session.issued` event for a fresh token and print the token on stdout."""
    from projector.seed import new_token, session_issued
    from shared.events import parse_event

    account_id = args.account.strip().lower()
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(days=args.expires_in_days)
    token = new_token()
    with open_store(settings) as store:
        email = _account_email(store.read_stream(f"account:{account_id}"))
        event = session_issued(
            event_id=str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            token=token,
            account_id=account_id,
            subject_email=email,
            created_at=now.isoformat(),
            expires_at=expires.isoformat(),
            device_label=args.label,
        )
        # Checked like any appended event, so a bad account id is named as such.
        store.append([parse_event(event.to_dict())])
    if email is None:
        print(f"readmodel: note: account {account_id} has no events in the store", file=sys.stderr)
    print(token)
    return 0


def _account_email(history: Sequence[StoredEvent]) -> str | None:
    """The account's e-mail address as its events last set it, None when unknown."""
    email: str | None = None
    for stored in history:
        value = stored.event.data.get("email")
        if stored.event.type in ("account.created", "account.updated") and isinstance(value, str):
            email = value
    return email
