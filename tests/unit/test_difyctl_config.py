"""The difyctl configuration `readmodel up` writes for its demo: difyctl's two files."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from projector.seed import demo_history
from projector.seed.difyctl import demo_config, write_demo_config


def test_the_files_point_difyctl_at_the_demo_owner_with_its_token() -> None:
    demo = demo_history()
    files = demo_config(demo, "127.0.0.1", 5001)
    hosts, tokens = yaml.safe_load(files["hosts.yml"]), yaml.safe_load(files["tokens.yml"])
    assert hosts["current_host"] == "127.0.0.1:5001"
    entry = hosts["hosts"]["127.0.0.1:5001"]
    assert entry["scheme"] == "http"
    email = entry["current_account"]
    account = entry["accounts"][email]
    assert account["account"]["id"] == demo.account_id
    assert account["account"]["email"] == email
    assert "@" in email
    assert account["account"]["name"]
    assert account["workspace"]["id"] == demo.workspace_id
    assert account["workspace"]["role"] == "owner"
    assert tokens == {"version": 1, "tokens": {"127.0.0.1:5001": {email: demo.token}}}


def test_a_host_with_colons_stays_one_yaml_string() -> None:
    hosts = yaml.safe_load(demo_config(demo_history(), "::1", 5099)["hosts.yml"])
    assert hosts["current_host"] == "::1:5099"
    assert list(hosts["hosts"]) == ["::1:5099"]


def test_they_are_written_privately(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "difyctl"
    write_demo_config(folder, demo_history(), "127.0.0.1", 5001)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("hosts.yml", "tokens.yml"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
