"""A private PostgreSQL cluster for one benchmark run, from the local server binaries.

The machine's PostgreSQL on 5432 is shared with other people's work: it cannot be pinned
to a core or measured on its own. A benchmark that needs PostgreSQL on the same core as
its servers starts one of these instead: `initdb` into a temporary folder, `pg_ctl start`
on a free loopback port (under `taskset` when given CPUs: the postmaster and every backend
it forks inherit them), trust authentication for `postgres`, stopped and removed on exit.
Run as root, the binaries run as the `postgres` system user (initdb refuses root).

Settings follow the shared server's where they touch reads (shared_buffers 128 MB,
autovacuum off, 100 connections); fsync is off because nothing written here needs to
survive the run, and it only speeds up loading.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.redis_servers import free_ports

SHARED_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "128MB",
    "max_connections": "100",
    "autovacuum": "off",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "timezone": "UTC",
}


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """Where to reach a PostgreSQL server, and its postmaster when it is ours to measure."""

    url: str  # SQLAlchemy URL of its maintenance database, `postgres`
    postmaster_pid: int | None  # None: the shared server
    description: str

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{name}"


class PostgresUnavailable(RuntimeError):
    """No local PostgreSQL binaries to start a private cluster with."""


def shared_postgres() -> PostgresServer:
    return PostgresServer(SHARED_URL, None, "the machine's shared server on 127.0.0.1:5432, not pinned")


@contextmanager
def private_postgres(cpus: str | None = None) -> Iterator[PostgresServer]:
    """A fresh cluster on a free loopback port, pinned to `cpus` when given; removed afterwards."""
    binaries = _binaries()
    as_user = _run_as()
    port = free_ports(1, with_bus=False)[0]
    folder = Path(tempfile.mkdtemp(prefix="readmodel-bench-pg-"))
    data = folder / "data"
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    options = " ".join(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items())
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    try:
        if as_user:
            shutil.chown(folder, user=as_user, group=as_user)
        _run(as_user, None, [*initdb, "--locale=C.UTF-8", "--no-sync"])
        _run(
            as_user,
            cpus,
            [*pg_ctl, "-l", str(folder / "log"), "-o", f"-p {port} -k {folder} {options}", "start"],
        )
        try:
            postmaster = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
            pinned = f"pinned to CPU {cpus}" if cpus else "not pinned"
            yield PostgresServer(
                f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                postmaster,
                f"a private PostgreSQL {binaries.parent.name} cluster on 127.0.0.1:{port}, {pinned}",
            )
        finally:
            _run(as_user, None, [*pg_ctl, "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _binaries() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl."""
    found = [
        Path(folder)
        for folder in glob.glob("/usr/lib/postgresql/*/bin")
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists()
    ]
    if not found:
        raise PostgresUnavailable("no /usr/lib/postgresql/*/bin with initdb and pg_ctl")
    return max(found, key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0)


def _run_as() -> str | None:
    """The user to run the binaries as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as missing:
        raise PostgresUnavailable(
            "running as root and there is no `postgres` user to run initdb as"
        ) from missing
    return "postgres"


def _run(as_user: str | None, cpus: str | None, command: list[str]) -> None:
    prefix = ["taskset", "-c", cpus] if cpus else []
    if as_user:
        prefix += ["runuser", "-u", as_user, "--"]
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise PostgresUnavailable(
            f"{Path(command[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}"
        )
