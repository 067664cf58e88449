"""The read model's figures for `readmodel status`: relay, watermark, lag, generations."""

from __future__ import annotations

import time
from typing import Any

import orjson

from projector.store import EventStore
from shared.readmodel import keys


def read_model_status(store: EventStore, redis: Any, *, now: float | None = None) -> dict[str, Any]:
    """Where the relay and the projector stand against the store's head."""
    now = time.time() if now is None else now
    head = store.head_position()
    relay = store.load_cursor("relay").position
    raw_live = redis.get(keys.LIVE_POINTER)
    live = None if raw_live is None else raw_live.decode()
    watermark = 0
    if live is not None:
        raw = redis.get(keys.full_key(live, keys.WATERMARK))
        watermark = 0 if raw is None else int(raw)
    lag_seconds = 0.0
    if watermark < head:
        pending = store.read_after(watermark, 1)
        if pending:
            lag_seconds = max(0.0, now - pending[0].recorded_at.timestamp())
    replay = redis.get(keys.REPLAY_POINTER)
    rebuilding = None if replay is None else orjson.loads(replay)
    healed = {k.decode(): v.decode() for k, v in redis.hgetall(keys.HEAL_RECORD).items()}
    # The live one and the one a rebuild is writing: known from the two pointers, so this
    # sample (taken every few seconds) never scans the keyspace.
    generations = sorted({g for g in (live, rebuilding and rebuilding["generation"]) if g})
    return {
        "store_head": head,
        "relay_position": relay,
        "relay_lag_events": max(0, head - relay),
        "live_generation": live,
        "watermark": watermark,
        "lag_events": max(0, head - watermark),
        "lag_seconds": round(lag_seconds, 3),
        "generations": generations,
        "replay_in_progress": rebuilding,
        "last_self_heal": healed or None,
    }


def describe(status: dict[str, Any]) -> list[str]:
    lines = [
        f"live generation: {status['live_generation'] or 'none (not built yet)'}",
        f"relay position: {status['relay_position']} (lag {status['relay_lag_events']} events)",
        f"projector watermark: {status['watermark']} "
        f"(lag {status['lag_events']} events, {status['lag_seconds']}s)",
        f"generations: {', '.join(status['generations']) or 'none'}",
    ]
    replay = status["replay_in_progress"]
    if replay:
        lines.append(f"replay in progress: {replay['generation']} at position {replay['position']}")
    healed = status["last_self_heal"]
    if healed:
        lines.append(f"last self-heal: {healed.get('reason')} -> {healed.get('generation')}")
    return lines
