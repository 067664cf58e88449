"""Load the benchmark's fixed read model into one Redis database and describe the targets.

The data is `demo_history(seed, workspaces, apps)` (100 workspaces x 100 apps by default),
plus 30 extra sessions of the benchmark user, projected by the real projector into the
database named by --redis-url, which is flushed first: give it a database of its own (or a
private cluster, `redis+cluster://host:port`, whose masters are all flushed).
Prints a JSON object: the token, the workspace, an app id and the page count.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from bench.redis_servers import flush
from projector.generations import ensure_live_generation
from projector.seed import demo_history, new_token, session_issued
from projector.store.memory import EventIndex
from projector.writer import RedisProjector
from shared.auth.chain import token_digest
from shared.events import Event
from shared.readmodel.connection import connect
from shared.readmodel.reads import ReadModelReader

EXTRA_SESSIONS = 30
BATCH = 2000


def extra_sessions(account_id: str, seed: int) -> list[Event]:
    rng = random.Random(seed)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    events = []
    for i in range(EXTRA_SESSIONS):
        created = start + timedelta(hours=i)
        events.append(
            session_issued(
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                token=new_token(),
                account_id=account_id,
                subject_email=None,
                created_at=created.isoformat(),
                expires_at=(created + timedelta(days=3650)).isoformat(),
                device_label=f"bench device {i}",
            ),
        )
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    client = connect(args.redis_url)
    flush(client)
    demo = demo_history(args.seed, workspaces=args.workspaces, apps=args.apps)
    log = EventIndex()  # the store's reads, over the events in memory
    log.record([*demo.events, *extra_sessions(demo.account_id, args.seed)])
    ensure_live_generation(client)
    projector = RedisProjector(client, log)
    for start in range(0, len(log.events), BATCH):
        result = projector.apply(log.events[start : start + BATCH])
        if result.poison:
            raise SystemExit(f"poison events: {[(p.event.position, p.reason) for p in result.poison][:5]}")

    reader = ReadModelReader(client)
    digest = token_digest(demo.token)
    page = reader.app_page(digest, 0, workspace_id=demo.workspace_id, offset=0, limit=1)
    first_app = json.loads(page.rows[0])["id"]
    print(
        json.dumps(
            {
                "token": demo.token,
                "workspace_id": demo.workspace_id,
                "app_id": first_app,
                "apps_in_list": page.total,
                "events": len(log.events),
            },
        ),
    )


if __name__ == "__main__":
    main()
