"""CPU readings around one wrk run: the server's processes, Redis, PostgreSQL and the cores."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from report import CpuUse, Figures

from bench.cpu import busy_seconds, cpu_list, family_seconds, session_seconds
from bench.redis_servers import info, reset_stats

# The commands a read script runs as; the read model calls EVALSHA today.
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")


class Meters:
    """Reads CPU time before and after a run. Redis' figures need a private Redis (its
    statistics are reset before each run) and PostgreSQL's a private cluster's postmaster."""

    def __init__(
        self, redis_client: Any | None, postgres_pid: int | None, server_cpus: str, client_cpus: str
    ) -> None:
        self._redis = redis_client
        self._postgres = postgres_pid
        self._server_cores = cpu_list(server_cpus)
        self._client_cores = cpu_list(client_cpus)

    def measure(
        self, run: Callable[[], Figures], server_session: int, *, redis: bool, postgres: bool
    ) -> tuple[Figures, CpuUse]:
        """Run `run`, with the CPU of the server (a session of its own) and, when asked and
        known, of Redis and PostgreSQL."""
        watch_redis = redis and self._redis is not None
        watch_postgres = postgres and self._postgres is not None
        if watch_redis:
            reset_stats(self._redis)
        before = self._readings(server_session, watch_redis, watch_postgres)
        started = time.monotonic()
        figures = run()
        wall = time.monotonic() - started
        after = self._readings(server_session, watch_redis, watch_postgres)
        spent = {name: after[name] - before[name] for name in before}
        calls, usec = self._script_stats() if watch_redis else (None, None)
        return figures, CpuUse(
            wall_s=wall,
            server_s=spent["server"],
            server_cores_busy_s=spent["server cores"],
            client_cores_busy_s=spent["client cores"],
            redis_s=spent.get("redis"),
            script_calls=calls,
            script_usec=usec,
            postgres_s=spent.get("postgres"),
        )

    def _readings(self, server_session: int, watch_redis: bool, watch_postgres: bool) -> dict[str, float]:
        readings = {
            "server": session_seconds(server_session),
            "server cores": busy_seconds(self._server_cores),
            "client cores": busy_seconds(self._client_cores),
        }
        if watch_redis:
            servers = info(self._redis, "cpu")
            readings["redis"] = sum(float(s["used_cpu_sys"]) + float(s["used_cpu_user"]) for s in servers)
        if watch_postgres and self._postgres is not None:
            readings["postgres"] = family_seconds(self._postgres)
        return readings

    def _script_stats(self) -> tuple[int, int]:
        """Calls of the script commands since the reset, and the µs Redis spent in them."""
        calls = usec = 0
        for stats in info(self._redis, "commandstats"):
            for command in SCRIPT_COMMANDS:
                if found := stats.get(f"cmdstat_{command}"):
                    calls += int(found["calls"])
                    usec += int(found["usec"])
        return calls, usec
