"""The `readmodel` command line, driven through `main(argv, env)` on SQLite files."""

from __future__ import annotations

import hashlib
import io
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from projector.cli import main as cli
from projector.cli.commands import status
from projector.migrations import head_revision
from projector.seed import generate_history
from projector.store import EventStore, create_engine_for
from shared.events import Event, encode_event
from shared.events.values import require_timestamp
from tests.unit.test_api_http import closed_port


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    return {"READMODEL_DATABASE_URL": sqlite_url}


@pytest.fixture
def migrated(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert cli.main(["migrate"], env) == 0
    capsys.readouterr()
    return env


def run(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv, env)
    out, err = capsys.readouterr()
    return code, out, err


def stored(env: dict[str, str]) -> list[Event]:
    engine = create_engine_for(env["READMODEL_DATABASE_URL"])
    try:
        return [s.event for s in EventStore(engine).iter_all()]
    finally:
        engine.dispose()


def workspace_events(count: int, *, start: int = 1, workspace_id: str | None = None) -> list[Event]:
    workspace_id = workspace_id or str(uuid.uuid4())
    return [
        Event(
            id=str(uuid.uuid4()),
            type="workspace.renamed",
            stream=f"workspace:{workspace_id}",
            version=version,
            workspace_id=workspace_id,
            occurred_at="2025-03-03T10:00:00+01:00",
            data={"name": f"Name {version}"},
        )
        for version in range(start, start + count)
    ]


def jsonl(events: list[Event]) -> bytes:
    return b"".join(encode_event(event) + b"\n" for event in events)


# --- migrate, settings, usage -------------------------------------------------------------


def test_migrate_prints_the_revision_and_can_run_again(env: dict[str, str], capsys) -> None:
    assert run(["migrate"], env, capsys) == (0, f"event store schema at revision {head_revision()}\n", "")
    assert run(["migrate"], env, capsys)[0] == 0


def test_a_bad_setting_is_one_line_and_exit_2(capsys) -> None:
    code, out, err = run(["status"], {"READMODEL_DATABASE_URL": "mysql://db/x"}, capsys)

    assert code == 2
    assert out == ""
    assert err.startswith("readmodel: READMODEL_DATABASE_URL: unsupported URL scheme")
    assert err.count("\n") == 1


def test_usage_errors_exit_2(env: dict[str, str], capsys) -> None:
    assert cli.main([], env) == 2
    assert cli.main(["seed", "--apps", "3"], env) == 2
    assert cli.main(["seed", "--workspaces", "0", "--apps", "3"], env) == 2
    assert "--workspaces" in capsys.readouterr().err


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "soon"])
def test_the_capture_poll_must_be_a_positive_number_of_seconds(
    env: dict[str, str], seconds: str, capsys
) -> None:
    argv = ["source", "run", "--dify-database-url", "postgresql://dify@db/dify", "--poll-seconds", seconds]
    assert cli.main(argv, env) == 2
    assert "--poll-seconds" in capsys.readouterr().err


def test_a_store_error_is_one_line_and_exit_2(env: dict[str, str], tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(workspace_events(1)))
    unreachable = env | {"READMODEL_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}

    code, _out, err = run(["events", "append", str(path)], unreachable, capsys)

    assert code == 2
    assert err.startswith("readmodel: the event store is unavailable")
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", [["replay"], ["verify"], ["replay", "--workspace", str(uuid.uuid4())]])
def test_an_unreachable_redis_is_one_line_naming_it(
    command: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    code, out, err = run(
        command, env | {"READMODEL_REDIS_URL": f"redis://:secret@127.0.0.1:{port}/0"}, capsys
    )

    assert code == 2
    assert out == ""
    assert err.startswith(
        f"readmodel: READMODEL_REDIS_URL: redis://:***@127.0.0.1:{port}/0: Redis does not answer"
    )
    assert "Connection refused" in err
    assert err.count("\n") == 1


def test_a_fresh_store_needs_no_separate_migrate(env: dict[str, str], tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(workspace_events(2)))

    assert run(["events", "append", str(path)], env, capsys) == (0, "appended 2 new, 0 duplicates\n", "")


# --- events append ------------------------------------------------------------------------


def test_append_writes_a_file_and_counts_duplicates_on_a_rerun(
    migrated: dict[str, str], tmp_path: Path, capsys
) -> None:
    events = workspace_events(3)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n" + jsonl(events[:2]) + b"   \n" + jsonl(events[2:]))

    assert run(["events", "append", str(path)], migrated, capsys) == (0, "appended 3 new, 0 duplicates\n", "")
    assert stored(migrated) == events
    more = workspace_events(1, start=4, workspace_id=events[0].workspace_id)
    path.write_bytes(jsonl([*events, *more]))
    assert run(["events", "append", str(path)], migrated, capsys)[1] == "appended 1 new, 3 duplicates\n"


def test_append_reads_standard_input(
    migrated: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    events = workspace_events(2)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(jsonl(events))))

    assert run(["events", "append", "-"], migrated, capsys)[:2] == (0, "appended 2 new, 0 duplicates\n")
    assert stored(migrated) == events


def test_a_bad_file_names_every_bad_line_and_writes_nothing(
    migrated: dict[str, str], tmp_path: Path, capsys
) -> None:
    (first,) = workspace_events(1)
    seeded = tmp_path / "first.jsonl"
    seeded.write_bytes(jsonl([first]))
    assert run(["events", "append", str(seeded)], migrated, capsys)[0] == 0

    ok = workspace_events(1, start=2, workspace_id=first.workspace_id)[0]
    gap = workspace_events(2)
    changed = Event(**{**first.to_dict(), "data": {"name": "Changed"}})
    stale = workspace_events(1, workspace_id=first.workspace_id)[0]
    (lone,) = workspace_events(1)
    unknown_field = {**gap[0].to_dict(), "id": str(uuid.uuid4()), "extra": 1}
    lines = [
        encode_event(ok),  # 1: fine
        b'{"id": "broken',  # 2: not JSON
        encode_event(gap[0]),  # 3: fine
        encode_event(Event(**{**gap[1].to_dict(), "version": 3})),  # 4: gap in the file
        encode_event(changed),  # 5: same id as a stored event, other content
        orjson.dumps({**lone.to_dict(), "occurred_at": "yesterday"}),  # 6: bad timestamp
        encode_event(stale),  # 7: version 1 again, but the store is at 1 and the file at 2
        b"",
        orjson.dumps(unknown_field),  # 9: unknown top-level field
        encode_event(first),  # 10: exact duplicate: fine
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    code, out, err = run(["events", "append", str(path)], migrated, capsys)

    assert code == 2
    assert out == ""
    reported = err.splitlines()
    assert [int(re.match(r"line (\d+): ", line).group(1)) for line in reported] == [2, 4, 5, 6, 7, 9]  # type: ignore[union-attr]
    assert reported[0].startswith("line 2: event: not valid JSON")
    assert reported[1] == f"line 4: version: stream {gap[1].stream} expects version 2, got 3"
    assert reported[2] == f"line 5: id: event {first.id} is already stored with different content"
    assert reported[3].startswith("line 6: occurred_at: expected an RFC 3339 timestamp")
    assert reported[4] == f"line 7: version: stream {first.stream} expects version 3, got 1"
    assert reported[5] == "line 9: extra: unknown top-level field"
    assert stored(migrated) == [first]


def test_a_version_after_an_unreadable_line_of_its_stream_is_not_blamed(
    migrated: dict[str, str], tmp_path: Path, capsys
) -> None:
    one, two, three = workspace_events(3)
    broken = orjson.dumps({**two.to_dict(), "data": {}})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([encode_event(one), broken, encode_event(three)]))

    code, _, err = run(["events", "append", str(path)], migrated, capsys)

    assert code == 2
    assert err == "line 2: data.name: is required\n"
    assert stored(migrated) == []


def test_a_binary_file_is_one_line(migrated: dict[str, str], tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 400 + b"\n" * 500)

    code, out, err = run(["events", "append", str(path)], migrated, capsys)

    assert (code, out) == (2, "")
    assert err == f"readmodel: {path}: not a UTF-8 text file\n"


def test_a_file_of_many_bad_lines_shows_the_first_twenty(
    migrated: dict[str, str], tmp_path: Path, capsys
) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(jsonl(workspace_events(2)) + b"id,name\n" * 5000)

    code, _, err = run(["events", "append", str(path)], migrated, capsys)

    assert code == 2
    reported = err.splitlines()
    assert reported[0].startswith("line 3: event: not valid JSON")
    assert len(reported) == 21
    assert reported[-1] == "…and 4980 more bad lines"
    assert stored(migrated) == []


def test_a_missing_file_is_reported(migrated: dict[str, str], tmp_path: Path, capsys) -> None:
    code, _, err = run(["events", "append", str(tmp_path / "nope.jsonl")], migrated, capsys)

    assert code == 2
    assert err.startswith("readmodel: cannot read ")


# --- seed -----------------------------------------------------------------------------------


def test_seed_writes_the_same_bytes_for_the_same_seed(
    migrated: dict[str, str], tmp_path: Path, capsys
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    argv = ["seed", "--workspaces", "2", "--apps", "6", "--seed", "9", "--out"]

    code, out, _ = run([*argv, str(first)], migrated, capsys)
    assert run([*argv, str(second)], migrated, capsys)[0] == 0

    assert code == 0
    assert first.read_bytes() == second.read_bytes()
    expected = jsonl(list(generate_history(2, 6, seed=9)))
    assert first.read_bytes() == expected
    assert out == f"wrote {len(expected.splitlines())} events to {first}\n"
    assert stored(migrated) == []


def test_seed_to_standard_output(migrated: dict[str, str], capsys) -> None:
    code, out, err = run(["seed", "--workspaces", "1", "--apps", "2", "--out", "-"], migrated, capsys)

    assert code == 0
    assert out.encode() == jsonl(list(generate_history(1, 2, seed=0)))
    assert err == f"wrote {len(out.splitlines())} events\n"


def test_seed_appends_and_a_rerun_is_all_duplicates(migrated: dict[str, str], capsys) -> None:
    argv = ["seed", "--workspaces", "2", "--apps", "4", "--seed", "3"]
    total = len(list(generate_history(2, 4, seed=3)))

    assert run(argv, migrated, capsys)[:2] == (0, f"appended {total} new, 0 duplicates\n")
    assert run(argv, migrated, capsys)[:2] == (0, f"appended 0 new, {total} duplicates\n")
    assert stored(migrated) == list(generate_history(2, 4, seed=3))


# --- token issue --------------------------------------------------------------------------


def test_token_issue_records_the_hash_and_prints_the_token_once(migrated: dict[str, str], capsys) -> None:
    assert cli.main(["seed", "--workspaces", "1", "--apps", "0"], migrated) == 0
    capsys.readouterr()
    account = next(e for e in stored(migrated) if e.type == "account.created")
    before = datetime.now(UTC).replace(microsecond=0)

    code, out, err = run(
        ["token", "issue", "--account", account.stream_id, "--label", "laptop", "--expires-in-days", "7"],
        migrated,
        capsys,
    )

    assert (code, err) == (0, "")
    token = out.strip()
    assert out == token + "\n"
    assert re.fullmatch(r"dfoa_[A-Za-z0-9_-]{43}", token)
    issued = stored(migrated)[-1]
    assert issued.type == "session.issued"
    assert issued.version == 1
    assert issued.data["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert issued.data["account_id"] == account.stream_id
    assert issued.data["subject_email"] == account.data["email"]
    assert issued.data["client_id"] == "difyctl"
    assert issued.data["device_label"] == "laptop"
    created = require_timestamp("created_at", issued.data["created_at"])
    expires = require_timestamp("expires_at", issued.data["expires_at"])
    assert created is not None
    assert created >= before
    assert expires == created + timedelta(days=7)
    assert token not in encode_event(issued).decode()


def test_token_issue_for_an_unknown_account_has_no_email(migrated: dict[str, str], capsys) -> None:
    account_id = str(uuid.uuid4())

    code, out, err = run(["token", "issue", "--account", account_id], migrated, capsys)

    assert code == 0
    assert out.startswith("dfoa_")
    assert "no events" in err
    issued = stored(migrated)[-1]
    assert issued.data["subject_email"] is None
    assert issued.data["device_label"] is None
    lifetime = datetime.fromisoformat(issued.data["expires_at"]) - datetime.fromisoformat(
        issued.data["created_at"]
    )
    assert lifetime == timedelta(days=30)  # Dify's CLI sessions last 30 days


def test_token_issue_refuses_an_account_id_that_is_not_a_uuid(migrated: dict[str, str], capsys) -> None:
    code, out, err = run(["token", "issue", "--account", "alice"], migrated, capsys)

    assert (code, out) == (2, "")
    assert err.startswith("readmodel: data.account_id: expected a UUID")
    assert stored(migrated) == []


# --- status ---------------------------------------------------------------------------------


def test_status_shows_head_and_counts(migrated: dict[str, str], tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(workspace_events(3)))
    assert cli.main(["events", "append", str(path)], migrated) == 0
    capsys.readouterr()

    code, out, _ = run(["status"], migrated, capsys)
    assert code == 0
    assert "head position: 3" in out
    assert "workspace.renamed: 3" in out

    code, out, _ = run(["status", "--json"], migrated, capsys)
    body = orjson.loads(out)
    assert code == 0
    assert body["store"]["head_position"] == 3
    assert body["store"]["events"] == 3
    assert body["store"]["types"] == {"workspace.renamed": 3}


def test_status_reports_a_failing_section_and_keeps_the_others(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def extra_section(context: status.StatusContext) -> status.Section:
        return status.Section("extra", {"answer": 42}, ("answer: 42",))

    monkeypatch.setattr(status, "SECTIONS", [*status.SECTIONS, extra_section])

    code, out, _ = run(["status", "--json"], env, capsys)

    body = orjson.loads(out)
    assert code == 1
    assert "readmodel migrate" in body["store"]["error"]
    assert body["extra"] == {"answer": 42}


# --- progress -------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def __init__(self, *, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_is_redrawn_on_a_terminal_and_sparse_elsewhere() -> None:
    from projector.cli.progress import ProgressLine

    now = [0.0]
    for tty, expected in ((False, "at 2.5\nat 5.0\n"), (True, "\rat 0.5\rat 1.0\rat 2.5\rat 5.0\rdone  \n")):
        now[0] = 0.0
        out = Terminal(tty=tty)
        line = ProgressLine(out, every=2.0, redraw=0.5, clock=lambda: now[0])
        for moment in (0.1, 0.5, 1.0, 2.5, 2.7, 5.0):
            now[0] = moment
            line.show(f"at {moment}")
        now[0] = 5.1
        line.show("done", force=True)
        line.finish()
        assert out.getvalue() == expected, tty
