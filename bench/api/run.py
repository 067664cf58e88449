"""Load-test the query API, the Dify-style reference and a hello-world in one run; see README.md.

Loads the fixed data set (load.py) into a private Redis started for the run and the same
seeded history into the Dify-style reference's database (bench/dify_reference/load.py) on a
private PostgreSQL cluster, checks that both servers answer the same list
(bench/dify_reference/check.py), then serves, each with `--workers` granian workers:
`readmodel serve`, the reference (Flask + SQLAlchemy ORM + PostgreSQL) and a Falcon
hello-world (the ceiling). The servers, Redis and PostgreSQL are pinned to `--server-cpus`,
wrk to `--client-cpus`.

The targets run round by round (`--rounds`): each round runs every target once, at 64
connections and at 1 (`--connections`), starting one target later than the round before,
so the machine's noise falls on all of them alike. Each run records wrk's figures, the
load average just before it, and the CPU each party spent: the server's processes, Redis
(`used_cpu_sys + used_cpu_user`, and `INFO commandstats` of the read scripts, reset before
each run), PostgreSQL's postmaster and backends, and how busy the cores were. Prints, per
target, the median over the rounds with its min and max, the CPU per request, and the ratios
the read path's targets are stated in. Exits non-zero when a request failed.

`--start-redis shared` claims a database of the machine's Redis instead (not pinned, no
Redis figures: its statistics are everyone's), `--start-redis cluster` starts three masters,
`--postgres shared` uses the machine's PostgreSQL (not pinned, no PostgreSQL figures).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from meters import Meters
from reference import check_answers, postgres_for, reference_database
from report import Figures, Sample, cpu_table, figures_table, goals_table, issue_goals

from bench.cpu import cpu_list
from bench.postgres_server import PostgresServer
from bench.redis_servers import TOPOLOGIES, info, private_redis
from shared.readmodel.connection import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLAIM = "readmodel-test:claim:{}"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
READ_MODEL, REFERENCE, HELLO = "readmodel", "reference", "hello"
READ_MODEL_LIMITED = "readmodel-limited"  # with Dify's per-token rate limit on
# Every target, in the order of the first round; the opt-in ones are not in DEFAULT_TARGETS.
TARGETS = ("list", "list-limited", "page3", "describe", "sessions", "dify", "dify-page3", "hello")
DEFAULT_TARGETS = ("list", "list-limited", "page3", "describe", "sessions", "dify", "hello")
# Every read model server runs without Dify's rate limits but the one measuring it, whose
# budget no run can spend: the figure is the cost of counting, not of refusing.
NO_RATE_LIMITS = {"OPENAPI_RATE_LIMIT_PER_TOKEN": "0", "READMODEL_ACCOUNT_RATE_LIMIT_PER_MINUTE": "0"}
UNSPENDABLE_BUDGET = {"OPENAPI_RATE_LIMIT_PER_TOKEN": str(10**9)}
WARM_UP = (8, 2)  # connections, seconds


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    name: str
    server: str  # READ_MODEL, REFERENCE or HELLO
    url: str
    token: str | None


@contextmanager
def claimed_database(base_url: str) -> Iterator[str]:
    """A database number no test run uses meanwhile; flushed and released afterwards."""
    admin = redis.Redis.from_url(base_url, db=0)
    for number in range(15, 0, -1):
        if admin.set(CLAIM.format(number), f"bench {os.getpid()}", nx=True, ex=3600):
            break
    else:
        raise SystemExit("every Redis database 1-15 is claimed")
    try:
        yield f"{base_url.rstrip('/')}/{number}"
    finally:
        redis.Redis.from_url(base_url, db=number).flushdb()
        admin.delete(CLAIM.format(number))


@contextmanager
def bench_redis(base_url: str, start: str | None, cpus: str | None = None) -> Iterator[str]:
    """A private Redis of topology `start` (pinned to `cpus` when given) if given, else a
    claimed database of the shared Redis at `base_url`."""
    if start is None:
        with claimed_database(base_url) as url:
            yield url
    else:
        with private_redis(start, cpus) as url:
            yield url


@contextmanager
def server(
    command: list[str], env: dict[str, str], port: int, core: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The server `command` pinned to `core`, in a session of its own, once it answers on `port`."""
    if _port_taken(port):
        raise SystemExit(f"something already listens on 127.0.0.1:{port}; pick another --port")
    process = subprocess.Popen(
        ["taskset", "-c", core, *command],
        cwd=ROOT,
        env={**os.environ, **NO_RATE_LIMITS, **env},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield process
    finally:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (404 at /): up
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not come up within 30 s")


def wrk(
    url: str, connections: int, duration: int, token: str | None, core: str, timeout: int | None = None
) -> Figures:
    command = ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if timeout is not None:
        command.append(f"--timeout={timeout}s")
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p50 = latency(output, "50%")
    p99 = latency(output, "99%")
    errors = re.findall(r"Non-2xx or 3xx responses: \d+|Socket errors: .*", output)
    return Figures(rate, p50, p99, "; ".join(errors), requests)


def latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    assert match, output
    return float(match.group(1)) * UNITS[match.group(2)]


def serve_command(port: int, workers: int) -> list[str]:
    """`readmodel serve` on loopback with `workers` granian workers."""
    return [
        "uv",
        "run",
        "--no-sync",
        "readmodel",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def granian_command(port: int, workers: int, factory: str, working_dir: Path) -> list[str]:
    """A WSGI app factory under granian, as `readmodel serve` runs the API (and its kill timeout)."""
    return [
        "uv",
        "run",
        "--no-sync",
        "granian",
        "--interface",
        "wsgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--workers-kill-timeout",
        "5",
        "--no-log",
        "--working-dir",
        str(working_dir),
        factory,
    ]


def hello_command(port: int, workers: int) -> list[str]:
    """The Falcon hello-world under the same server, for the ceiling."""
    return granian_command(port, workers, "hello:create", HERE)


def reference_command(port: int, workers: int) -> list[str]:
    """The Dify-style reference (bench/dify_reference) under the same server."""
    return granian_command(port, workers, "bench.dify_reference.app:create_from_env", ROOT)


def load_data(redis_url: str, *extra: str) -> dict[str, Any]:
    """Run load.py into `redis_url` (flushed first) and return what it printed."""
    loaded = subprocess.run(
        [sys.executable, str(HERE / "load.py"), "--redis-url", redis_url, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(loaded.stdout)


def targets_for(
    read_model: str, limited: str, reference: str, hello: str, data: dict[str, Any]
) -> dict[str, Target]:
    """Every target, by key, for the loaded data (`data`: what load.py printed)."""
    page1 = f"/apps?workspace_id={data['workspace_id']}&limit=20"
    table = [
        ("list", "read model: GET /apps (page 1)", READ_MODEL, read_model + page1),
        ("list-limited", "read model, limit on: GET /apps (page 1)", READ_MODEL_LIMITED, limited + page1),
        ("page3", "read model: GET /apps (page 3)", READ_MODEL, f"{read_model}{page1}&page=3"),
        (
            "describe",
            "read model: GET /apps/{id}/describe",
            READ_MODEL,
            f"{read_model}/apps/{data['app_id']}/describe",
        ),
        ("sessions", "read model: GET /account/sessions", READ_MODEL, f"{read_model}/account/sessions"),
        ("dify", "Dify-style reference: GET /apps (page 1)", REFERENCE, reference + page1),
        ("dify-page3", "Dify-style reference: GET /apps (page 3)", REFERENCE, f"{reference}{page1}&page=3"),
        ("hello", "Falcon hello world (ceiling)", HELLO, hello),
    ]
    return {
        key: Target(key, name, kind, url, None if kind == HELLO else data["token"])
        for key, name, kind, url in table
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every target once")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", default="64,1", help="wrk connection counts, run in this order")
    parser.add_argument("--workers", type=int, default=2, help="granian workers of each server")
    parser.add_argument(
        "--server-cpus", default="1", help="taskset CPU list of servers, Redis and PostgreSQL"
    )
    parser.add_argument("--client-cpus", default="0", help="taskset CPU list of wrk")
    parser.add_argument(
        "--port", type=int, default=5077, help="the read model's; hello +1, reference +2, rate-limited +3"
    )
    parser.add_argument("--timeout", type=int, default=10, help="wrk's request timeout, seconds")
    parser.add_argument(
        "--start-redis",
        choices=(*TOPOLOGIES, "shared"),
        default="single",
        help="a private Redis started for the run (one server or 3 masters), or the shared one",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the shared Redis (no db)")
    parser.add_argument(
        "--postgres", choices=("private", "shared"), default="private", help="for the reference's database"
    )
    parser.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma-separated, of: {', '.join(TARGETS)} (default: all but dify-page3)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip comparing the two servers' answers")
    args = parser.parse_args()
    chosen = args.targets.split(",")
    if unknown := set(chosen) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install -y {tool})")
    uses = {_server_of(key) for key in chosen}
    if REFERENCE in uses and importlib.util.find_spec("flask") is None:
        raise SystemExit("the reference needs Flask: run with `uv run --group bench python bench/api/run.py`")

    started_at = datetime.datetime.now(datetime.UTC)
    load_at_start = os.getloadavg()
    with ExitStack() as stack:
        start_redis = None if args.start_redis == "shared" else args.start_redis
        redis_url = stack.enter_context(bench_redis(args.redis, start_redis, args.server_cpus))
        data = load_data(redis_url)
        print(
            f"loaded {data['events']} events into Redis; list of {data['apps_in_list']} apps", file=sys.stderr
        )
        postgres: PostgresServer | None = None
        reference_env: dict[str, str] = {}
        if REFERENCE in uses:
            postgres = stack.enter_context(postgres_for(args.postgres, args.server_cpus))
            loaded = stack.enter_context(reference_database(postgres))
            if loaded["TOKEN"] != data["token"] or loaded["WORKSPACE_ID"] != data["workspace_id"]:
                raise SystemExit("the two loaders disagree on the token or workspace: different histories?")
            reference_env = {"DIFY_REFERENCE_DATABASE_URL": loaded["DATABASE_URL"]}
        ports = {
            READ_MODEL: args.port,
            HELLO: args.port + 1,
            REFERENCE: args.port + 2,
            READ_MODEL_LIMITED: args.port + 3,
        }
        commands = {
            READ_MODEL: (serve_command(ports[READ_MODEL], args.workers), {"READMODEL_REDIS_URL": redis_url}),
            READ_MODEL_LIMITED: (
                serve_command(ports[READ_MODEL_LIMITED], args.workers),
                {"READMODEL_REDIS_URL": redis_url, **UNSPENDABLE_BUDGET},
            ),
            HELLO: (hello_command(ports[HELLO], args.workers), {}),
            REFERENCE: (reference_command(ports[REFERENCE], args.workers), reference_env),
        }
        servers = {
            name: stack.enter_context(server(command, env, ports[name], args.server_cpus))
            for name, (command, env) in commands.items()
            if name in uses
        }
        local = "http://127.0.0.1:{}"
        targets = targets_for(
            local.format(ports[READ_MODEL]) + "/openapi/v1",
            local.format(ports[READ_MODEL_LIMITED]) + "/openapi/v1",
            local.format(ports[REFERENCE]) + "/openapi/v1",
            local.format(ports[HELLO]) + "/hello",
            data,
        )
        if REFERENCE in uses and READ_MODEL in uses and not args.no_check:
            check_answers(local.format(ports[REFERENCE]), local.format(ports[READ_MODEL]))
        redis_client = connect(redis_url) if start_redis else None
        meters = Meters(
            redis_client, postgres.postmaster_pid if postgres else None, args.server_cpus, args.client_cpus
        )
        samples = measure_rounds(args, [targets[key] for key in TARGETS if key in chosen], servers, meters)
        redis_version = _redis_version(redis_client)

    names = {key: target.name for key, target in targets.items()}
    print(_setting(args, started_at, load_at_start, postgres, redis_version))
    print()
    print("\n".join(figures_table(samples, names)))
    print()
    print(
        "CPU per request (server: its processes; Redis: INFO cpu and commandstats; PostgreSQL: postmaster "
        "and backends; empty: not measured). The load average counts the run's own runnable threads."
    )
    print()
    print(
        "\n".join(cpu_table(samples, names, len(cpu_list(args.server_cpus)), len(cpu_list(args.client_cpus))))
    )
    print()
    print("\n".join(goals_table(samples, issue_goals())))
    if any(sample.figures.errors for sample in samples):
        sys.exit("some requests failed (see the errors column)")


def measure_rounds(
    args: argparse.Namespace,
    targets: list[Target],
    servers: dict[str, subprocess.Popen[bytes]],
    meters: Meters,
) -> list[Sample]:
    """`args.rounds` rounds of every target at each connection count; round r starts r - 1
    targets further down the list, so no target always runs first or right after another."""
    samples: list[Sample] = []
    for number in range(1, args.rounds + 1):
        shift = (number - 1) % len(targets)
        for target in targets[shift:] + targets[:shift]:
            wrk(target.url, *WARM_UP, target.token, core=args.client_cpus, timeout=args.timeout)
            for count in (int(c) for c in args.connections.split(",")):
                load = os.getloadavg()[0]
                figures, cpu = meters.measure(
                    lambda t=target, c=count: wrk(
                        t.url, c, args.duration, t.token, core=args.client_cpus, timeout=args.timeout
                    ),
                    servers[target.server].pid,
                    redis=target.server in (READ_MODEL, READ_MODEL_LIMITED),
                    postgres=target.server == REFERENCE,
                )
                samples.append(Sample(number, target.key, count, figures, load, cpu))
                print(
                    f"round {number}/{args.rounds} {target.name}, {count} conns: "
                    f"{figures.requests_per_second:,.0f} req/s, p50 {figures.p50_ms:.3f} ms, "
                    f"p99 {figures.p99_ms:.2f} ms, load {load:.1f} {figures.errors}",
                    file=sys.stderr,
                )
    return samples


def _server_of(key: str) -> str:
    if key == "hello":
        return HELLO
    if key == "list-limited":
        return READ_MODEL_LIMITED
    return REFERENCE if key.startswith("dify") else READ_MODEL


def _redis_version(client: Any | None) -> str:
    if client is None:
        return ""
    return str(info(client, "server")[0].get("redis_version", ""))


def _setting(
    args: argparse.Namespace,
    started_at: datetime.datetime,
    load_at_start: tuple[float, float, float],
    postgres: PostgresServer | None,
    redis_version: str,
) -> str:
    load_at_end = os.getloadavg()
    redis_said = {
        "shared": "the machine's shared Redis (claimed database), not pinned; no Redis CPU figures",
        "single": f"a private Redis {redis_version}, pinned to CPU {args.server_cpus}",
        "cluster": f"a private 3-master Redis {redis_version} cluster, pinned to CPU {args.server_cpus}",
    }[args.start_redis]
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("granian", "falcon", "redis", "flask", "sqlalchemy")
        if importlib.util.find_spec(name) is not None
    )
    return "\n".join(
        [
            f"{started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs ({_cpu_model()}), "
            f"Python {platform.python_version()}, {versions}",
            f"load average (1, 5, 15 min): {_loads(load_at_start)} at the start, "
            f"{_loads(load_at_end)} at the end",
            f"rounds: {args.rounds}, wrk runs of {args.duration} s (-t1, --timeout {args.timeout}s) at "
            f"{args.connections} connections after a {WARM_UP[1]} s warm-up; {args.workers} granian workers "
            f"per server; servers on CPU {args.server_cpus}, wrk on CPU {args.client_cpus}",
            f"Redis: {redis_said}",
            f"PostgreSQL: {postgres.description if postgres else 'not used'}",
        ]
    )


def _cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def _loads(loads: tuple[float, float, float]) -> str:
    return ", ".join(f"{load:.2f}" for load in loads)


if __name__ == "__main__":
    main()
