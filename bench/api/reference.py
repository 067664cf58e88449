"""The Dify-style reference's side of run.py: PostgreSQL, its database, and the answer check."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.postgres_server import PostgresServer, PostgresUnavailable, private_postgres, shared_postgres

ROOT = Path(__file__).resolve().parent.parent.parent
DATABASE = "readmodel_bench_dify"


@contextmanager
def postgres_for(choice: str, cpus: str) -> Iterator[PostgresServer]:
    """A private cluster pinned to `cpus` ('private'), or the machine's shared server ('shared')."""
    if choice == "shared":
        yield shared_postgres()
        return
    try:
        with private_postgres(cpus) as postgres:
            yield postgres
    except PostgresUnavailable as why:
        raise SystemExit(f"cannot start a private PostgreSQL ({why}); pass --postgres shared") from why


@contextmanager
def reference_database(postgres: PostgresServer) -> Iterator[dict[str, str]]:
    """The reference's database loaded from the seeded history by bench/dify_reference/load.py:
    what it printed (WORKSPACE_ID, TOKEN) and DATABASE_URL. On the shared server it gets a
    name of its own and is dropped afterwards."""
    name = DATABASE if postgres.postmaster_pid else f"{DATABASE}_{os.getpid()}"
    command = [
        sys.executable,
        "-m",
        "bench.dify_reference.load",
        "--server",
        postgres.url,
        "--database",
        name,
    ]
    loaded = subprocess.run([*command, "--replace"], cwd=ROOT, capture_output=True, text=True, check=False)
    if loaded.returncode != 0:
        raise SystemExit(f"loading the reference's database failed:\n{loaded.stderr}")
    try:
        printed = dict(line.split("=", 1) for line in loaded.stdout.split())
        yield {**printed, "DATABASE_URL": postgres.database_url(name)}
    finally:
        if not postgres.postmaster_pid:
            subprocess.run([*command, "--drop"], cwd=ROOT, capture_output=True, check=False)


def check_answers(reference_url: str, read_model_url: str) -> None:
    """Both servers must answer the same lists for the same data before they are compared."""
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.dify_reference.check",
            "--url",
            reference_url,
            "--against",
            read_model_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:
        raise SystemExit(f"the reference and the read model disagree:\n{checked.stderr}")
    print(checked.stdout.strip(), file=sys.stderr)
