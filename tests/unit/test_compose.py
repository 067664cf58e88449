"""docker-compose.yml read the way Compose reads it (YAML merge keys, then `${…}` interpolation).

No Docker engine is needed: the shell snippets are parsed by `sh -n`, and the Redis Cluster's
start-up script runs under `sh` with recording stand-ins for the Redis binaries, so what its
lines do (not only how they look) is checked.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
README = ROOT / "README.md"
READ_MODEL_SERVICES = ("migrate", "relay", "projector", "api")
SH = shutil.which("sh") or "/bin/sh"

# Compose's interpolation: `$$` is a literal `$`; `${NAME}`, `${NAME:-default}` (unset or
# empty) and `${NAME-default}` (unset); `$NAME`.
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """The file's values as Compose hands them over with `env` as the shell's environment."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        given = env.get(name)
        if match.group(2) == ":-":
            return given or match.group(3)
        if match.group(2) == "-":
            return match.group(3) if given is None else given
        return given or ""

    return _VARIABLE.sub(substitute, value)


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), env or {})


def argv(command: str | list[str]) -> list[str]:
    """A service's command as the container gets it: Compose splits a string like a shell."""
    return shlex.split(command) if isinstance(command, str) else command


def shell_snippets(service: Mapping[str, Any]) -> list[str]:
    """What a shell will run for the service: its command and its CMD-SHELL health check."""
    snippets = []
    command = service.get("command")
    if isinstance(command, str):
        snippets.append(command)  # split like a shell's words, so it must parse as one
    if command is not None and argv(command)[:2] == ["sh", "-c"]:
        snippets.append(argv(command)[2])
    test = service.get("healthcheck", {}).get("test")
    if isinstance(test, list) and test[:1] == ["CMD-SHELL"]:
        snippets.append(test[1])
    return snippets


def test_every_shell_command_parses() -> None:
    checked = 0
    for name, service in load()["services"].items():
        for snippet in shell_snippets(service):
            result = subprocess.run([SH, "-n", "-c", snippet], capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{name}: {result.stderr}"
            checked += 1
    assert checked >= 3  # redis's command, the cluster's script and its health check at least


def run_with_recording_redis(script: str, tmp_path: Path) -> list[list[str]]:
    """Run `script` with redis-server, redis-cli and the other tools it calls replaced by
    stand-ins that record their arguments and return at once; the calls, in order."""
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls"
    recorder = '#!/bin/sh\n{ printf "%s" "${0##*/}"; printf "\\t%s" "$@"; printf "\\n"; } >> "$CALLS"\n'
    # grep answers "no match", as on nodes that are not in a cluster yet.
    outcomes = {"redis-server": 0, "redis-cli": 0, "sleep": 0, "tail": 0, "grep": 1}
    for tool, status in outcomes.items():
        path = tools / tool
        path.write_text(recorder + f"exit {status}\n")
        path.chmod(0o755)
    result = subprocess.run(
        [SH, "-c", script],
        env={"PATH": str(tools), "CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # e.g. "--cluster-announce-hostname: not found"
    return [line.split("\t") for line in calls.read_text().splitlines()]


def test_the_cluster_starts_its_nodes_as_daemons_before_creating_the_cluster(tmp_path: Path) -> None:
    command = argv(load()["services"]["redis-cluster"]["command"])
    assert command[:2] == ["sh", "-c"]
    calls = run_with_recording_redis(command[2], tmp_path)

    servers = [(index, call) for index, call in enumerate(calls) if call[0] == "redis-server"]
    ports = sorted(call[call.index("--port") + 1] for _, call in servers)
    assert ports == ["7000", "7001", "7002"]
    for _, call in servers:
        words = " ".join(call)
        assert "--daemonize yes" in words, words
        assert "--cluster-enabled yes" in words, words
        assert "--cluster-announce-hostname redis-cluster" in words, words
    creates = [index for index, call in enumerate(calls) if call[:3] == ["redis-cli", "--cluster", "create"]]
    assert len(creates) == 1, calls
    create = calls[creates[0]]
    assert {"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"} <= set(create)
    assert "--cluster-yes" in create  # nobody answers the prompt in a container
    assert max(index for index, _ in servers) < creates[0]
    # Every node answered before the create was tried.
    pings = {call[2] for call in calls[: creates[0]] if call[0] == "redis-cli" and call[-1] == "ping"}
    assert pings == {"7000", "7001", "7002"}


def test_the_cluster_keeps_running_after_forming() -> None:
    script = argv(load()["services"]["redis-cluster"]["command"])[2]
    # The nodes are daemons: something must stay in the foreground or the container exits.
    assert script.rstrip().splitlines()[-1].strip() == "exec tail -f /dev/null"


@pytest.mark.parametrize(
    "env",
    [{}, {"READMODEL_REDIS_URL": "redis+cluster://redis-cluster:7000"}],
    ids=["single-redis", "cluster"],
)
def test_the_read_model_depends_on_everything_it_connects_to(env: dict[str, str]) -> None:
    compose = load(env)
    services = compose["services"]
    for name in READ_MODEL_SERVICES:
        service = services[name]
        depends_on = service["depends_on"]
        hosts = {
            urlsplit(value).hostname
            for key, value in service["environment"].items()
            if key.endswith("_URL") and value
        }
        assert hosts, name
        assert hosts <= set(depends_on), f"{name} connects to {sorted(hosts)}, waits for {sorted(depends_on)}"
        # The cluster may be what it connects to: it waits for it whenever its profile is on.
        assert depends_on["redis-cluster"] == {"condition": "service_healthy", "required": False}
        if name != "migrate":
            assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        for dependency, rule in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no health check"
            if set(services[dependency].get("profiles", [])) - set(service.get("profiles", [])):
                assert rule.get("required") is False, f"{name} requires {dependency} of another profile"


_PUBLISHED = re.compile(r"\$\{EXPOSE_ADDRESS:-127\.0\.0\.1\}:\$\{(EXPOSE_\w+):-([\d-]+)\}:([\d-]+)")


def published_ports(env: Mapping[str, str]) -> list[str]:
    return [entry for service in load(env)["services"].values() for entry in service.get("ports", [])]


def test_every_published_port_is_a_variable_on_the_loopback_by_default() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    variables = set()
    for name, service in raw.items():
        for entry in service.get("ports", []):
            match = _PUBLISHED.fullmatch(entry)
            assert match, f"{name}: {entry!r} is not published as ${{EXPOSE_ADDRESS}}:${{EXPOSE_…_PORT}}"
            variable, default, container = match.groups()
            assert default == container, f"{name}: {entry!r}"
            assert variable not in variables, f"{variable} is used twice"
            variables.add(variable)
    readme = README.read_text()
    undocumented = sorted(variable for variable in variables if f"`{variable}`" not in readme)
    assert not undocumented, f"README.md does not name {undocumented}"

    published = published_ports({})
    assert all(entry.startswith("127.0.0.1:") for entry in published), published
    moved = published_ports({"EXPOSE_ADDRESS": "0.0.0.0", "EXPOSE_POSTGRES_PORT": "15432"})
    assert "0.0.0.0:15432:5432" in moved
    assert all(entry.startswith("0.0.0.0:") for entry in moved)


def test_the_admin_token_reaches_the_read_model() -> None:
    services = load({"READMODEL_ADMIN_TOKEN": "s3cret-admin"})["services"]
    for name in READ_MODEL_SERVICES:
        assert services[name]["environment"]["READMODEL_ADMIN_TOKEN"] == "s3cret-admin"
    # Unset it stays empty, which the settings read as "no /ops page".
    assert load()["services"]["api"]["environment"]["READMODEL_ADMIN_TOKEN"] == ""


def test_difys_rate_limit_reaches_the_api_on_by_default() -> None:
    api = load()["services"]["api"]["environment"]
    assert api["OPENAPI_RATE_LIMIT_PER_TOKEN"] == "60"
    assert api["READMODEL_RATE_LIMIT_REDIS_URL"] == ""  # unset: the read model's own Redis
    shared = load({"READMODEL_RATE_LIMIT_REDIS_URL": "redis://dify-redis:6379/1"})["services"]["api"]
    assert shared["environment"]["READMODEL_RATE_LIMIT_REDIS_URL"] == "redis://dify-redis:6379/1"


def test_interpolation_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("$$p ${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $SET ${UNSET}", env) == "$p x d  d x "
