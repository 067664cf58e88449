"""The figures behind the status page, gathered in one pass over Redis, the store and the metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.exceptions

from query_api.operations.metrics import ApiMetrics
from query_api.operations.probe import StoreProbe
from query_api.operations.readiness import Readiness
from shared.errors import StoreError
from shared.readmodel import keys
from shared.readmodel.connection import bounded_scan


def _glob_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", r"\*").replace("?", r"\?").replace("[", r"\[")


class OpsStatus:
    """Everything the status page polls, as one JSON-ready dict."""

    def __init__(
        self,
        redis: Any,
        probe: StoreProbe | None,
        readiness: Readiness,
        metrics: ApiMetrics,
        *,
        top_workspaces: int = 10,
        scan_budget: int = 5000,
        dead_letter_limit: int = 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._probe = probe
        self._readiness = readiness
        self._metrics = metrics
        self._top = top_workspaces
        # SCAN visits at most this many keys per poll: a huge keyspace costs a bounded walk
        # (and shows a partial ranking, flagged as such) rather than a slow page.
        self._scan_budget = scan_budget
        self._dead_letter_limit = dead_letter_limit
        self._clock = clock

    def snapshot(self) -> dict[str, Any]:
        report = self._readiness.check()
        status: dict[str, Any] = {
            "now": self._clock(),
            "ready": report.ready,
            "reasons": list(report.reasons),
            "read_model": report.figures(),
            "store": self._store(report.watermark),
            # The page's own polling would top the table it draws: /ops routes are left out.
            "requests": [
                stats.to_dict()
                for stats in self._metrics.request_stats()
                if not stats.route.startswith("/ops")
            ],
        }
        try:
            status |= self._redis_figures(report.live_generation)
        except redis.exceptions.RedisError as exc:
            status["redis_error"] = type(exc).__name__
        return status

    def _store(self, watermark: int | None) -> dict[str, Any]:
        if self._probe is None:
            return {"available": False, "note": "this API process has no store probe"}
        try:
            head = self._probe.head()
            figures = self._probe.figures(self._dead_letter_limit)
        except StoreError as exc:
            return {"available": False, "note": f"store unreachable ({type(exc).__name__})"}
        relay = figures.relay_position
        return {
            "available": True,
            "head": head,
            "relay_position": relay,
            "relay_lag_events": None if relay is None else max(0, head - relay),
            "projector_lag_events": None if watermark is None else max(0, head - watermark),
            "dead_letters": figures.dead_letters,
            "recent_dead_letters": [
                {
                    "id": row.id,
                    "position": row.position,
                    "type": row.type,
                    "reason": row.reason,
                    "attempts": row.attempts,
                    "last_failed_at": row.last_failed_at,
                }
                for row in figures.recent_dead_letters
            ],
        }

    def _redis_figures(self, live: str | None) -> dict[str, Any]:
        raw_replay = self._redis.get(keys.REPLAY_POINTER)
        replay = None if raw_replay is None else orjson.loads(raw_replay)
        healed = {k.decode(): v.decode() for k, v in self._redis.hgetall(keys.HEAL_RECORD).items()}
        workspaces, complete = self._top_workspaces(live)
        return {
            "generations": self._generations(live, replay),
            "replay": None if replay is None else _replay(replay),
            "last_self_heal": healed or None,
            "workspaces": workspaces,
            "workspaces_complete": complete,
        }

    def _generations(self, live: str | None, replay: dict[str, Any] | None) -> list[dict[str, Any]]:
        # The live generation and the one a rebuild is writing are named by their pointers:
        # no keyspace scan on a page that polls every few seconds.
        rebuilding = None if replay is None else replay.get("generation")
        names = sorted({name for name in (live, rebuilding) if isinstance(name, str)})
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.get(keys.full_key(name, keys.WATERMARK))
        marks = pipe.execute() if names else []
        return [
            {"generation": name, "watermark": int(mark or 0), "live": name == live}
            for name, mark in zip(names, marks, strict=True)
        ]

    def _top_workspaces(self, live: str | None) -> tuple[list[dict[str, Any]], bool]:
        """The workspaces with the most visible apps: ZCARD of each index found by a bounded SCAN."""
        if live is None:
            return [], True
        prefix = keys.full_key(live, "")
        pattern = _glob_escape(prefix) + keys.app_index("*")
        found: list[tuple[str, str]] = []
        names, complete = bounded_scan(
            self._redis, pattern, budget=self._scan_budget, step=min(500, self._scan_budget)
        )
        for raw in names:
            key = raw.decode()
            workspace = key[len(prefix) :].removeprefix("ws:{").removesuffix("}:idx")
            if workspace and not any(c in workspace for c in "{}:"):
                found.append((workspace, key))
        pipe = self._redis.pipeline(transaction=False)
        for _, key in found:
            pipe.zcard(key)
        counts = pipe.execute() if found else []
        ranked = sorted(zip(found, counts, strict=True), key=lambda item: (-int(item[1]), item[0][0]))[
            : self._top
        ]
        pipe = self._redis.pipeline(transaction=False)
        for (workspace, _), _count in ranked:
            pipe.hget(keys.full_key(live, keys.workspace(workspace)), "name")
        names = pipe.execute() if ranked else []
        return [
            {"workspace_id": ws, "name": None if name is None else name.decode(), "apps": int(count)}
            for ((ws, _), count), name in zip(ranked, names, strict=True)
        ], complete


def _replay(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "generation": checkpoint.get("generation"),
        "phase": checkpoint.get("phase"),
        "events": checkpoint.get("events"),
        "position": checkpoint.get("position"),
    }
