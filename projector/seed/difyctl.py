"""difyctl's configuration for the demo: its two files, so `difyctl get app` works at once.

difyctl keeps the host it talks to and the bearer of each account in `hosts.yml` and
`tokens.yml`, in the folder `DIFY_CONFIG_DIR` names, and has no `--host` on its read
commands: against Dify they are written by `difyctl auth login`, which needs Dify's device
flow. The read model has no login, so `readmodel up` writes them for the demo's owner.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from projector.seed.history import DemoHistory
from shared.events import Event


def demo_config(demo: DemoHistory, host: str, port: int) -> dict[str, str]:
    """The two files (name -> text) that point difyctl at the demo's owner on host:port."""
    account = _latest(demo.events, f"account:{demo.account_id}", ("name", "email"))
    workspace = _latest(demo.events, f"workspace:{demo.workspace_id}", ("name",))
    email = account.get("email", demo.account_id)
    where = f"{host}:{port}"
    # JSON strings are YAML strings too: names and e-mails need no quoting rules of their own.
    hosts = "\n".join(
        [
            "token_storage: file",
            f"current_host: {_text(where)}",
            "hosts:",
            f"  {_text(where)}:",
            "    scheme: http",
            f"    current_account: {_text(email)}",
            "    accounts:",
            f"      {_text(email)}:",
            "        account:",
            f"          id: {_text(demo.account_id)}",
            f"          email: {_text(email)}",
            f"          name: {_text(account.get('name', ''))}",
            "        workspace:",
            f"          id: {_text(demo.workspace_id)}",
            f"          name: {_text(workspace.get('name', ''))}",
            "          role: owner",
            "",
        ]
    )
    tokens = "\n".join(
        ["version: 1", "tokens:", f"  {_text(where)}:", f"    {_text(email)}: {_text(demo.token)}", ""]
    )
    return {"hosts.yml": hosts, "tokens.yml": tokens}


def write_demo_config(folder: Path, demo: DemoHistory, host: str, port: int) -> None:
    """Write the files into `folder` (made private: it holds a bearer token)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, text in demo_config(demo, host, port).items():
        path = folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)


def _latest(events: Iterable[Event], stream: str, names: tuple[str, ...]) -> dict[str, str]:
    """The stream's last value of each of `names`, as its events set them."""
    found: dict[str, str] = {}
    for event in events:
        if event.stream == stream:
            found.update({k: v for k, v in event.data.items() if k in names and isinstance(v, str)})
    return found


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)
