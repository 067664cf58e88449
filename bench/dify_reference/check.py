"""Check a running reference server against what the read model answers for the same history.

    uv run --group bench python -m bench.dify_reference.check --url http://127.0.0.1:8010

The expected bodies come from folding the same seeded history with the projector's own
fold (`MemoryProjection`, the projector's fold run into memory), not from the reference's
tables. `--against URL` also compares with a running read-model server, body for body, and
asks both a few filtered and refused lists (mode, tag, name, an app id as name, an app whose
service API is off, bad parameters, an unknown workspace).
Run by hand (or by `run.sh`) with the server up; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.dify_reference.rows import fold_rows
from projector.fold.memory import MemoryProjection
from projector.seed import DemoHistory, demo_history
from shared.events import StoredEvent
from shared.readmodel import keys

PAGE_LIMIT = 20
ENVELOPE_KEYS = ["page", "limit", "total", "has_more", "data"]
ROW_KEYS = [
    "id",
    "name",
    "description",
    "mode",
    "tags",
    "updated_at",
    "created_by_name",
    "workspace_id",
    "workspace_name",
]
SECURITY_HEADERS = {"x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'"}


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names) and the decoded body."""

    status: int
    headers: dict[str, str]
    body: Any


def main(argv: Sequence[str] | None = None) -> int:
    """Compare the server's answers with the expected ones; 0 when all match."""
    parser = argparse.ArgumentParser(prog="python -m bench.dify_reference.check", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8010", help="the reference server")
    parser.add_argument("--against", metavar="URL", help="a read-model server to compare with too")
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    history = demo_history(args.seed, workspaces=args.workspaces, apps=args.apps)
    model = MemoryProjection()
    recorded_at = datetime.now(UTC)
    model.fold_all(
        StoredEvent(position=position, event=event, recorded_at=recorded_at)
        for position, event in enumerate(history.events, start=1)
    )
    if model.skipped:
        print(f"the fold skipped events: {model.skipped[:3]}", file=sys.stderr)
        return 1

    failures: list[str] = []
    ordered = _visible_app_ids(model, history.workspace_id)
    pages = max(1, -(-len(ordered) // PAGE_LIMIT))
    checked = sorted({1, (pages + 1) // 2, pages, pages + 1})
    for page in checked:
        expected = _expected_page(model, history.workspace_id, ordered, page)
        answer = _get(args.url, _list_path(history.workspace_id, page), history.token)
        failures += _compare(f"page {page}", answer, expected)
        if args.against:
            other = _get(args.against, _list_path(history.workspace_id, page), history.token)
            failures += _compare(f"page {page} vs {args.against}", answer, other.body)
    failures += _refusals(args.url, history)
    if args.against:
        for what, params in _variants(history, model, ordered):
            path = f"/openapi/v1/apps?{urllib.parse.urlencode(params)}"
            failures += _compare_answers(
                what, _get(args.url, path, history.token), _get(args.against, path, history.token)
            )

    for failure in failures:
        print(f"MISMATCH {failure}", file=sys.stderr)
    if failures:
        return 1
    shown = ", ".join(map(str, checked))
    print(f"ok: pages {shown} of workspace {history.workspace_id} and 2 refusals match the read model")
    if args.against:
        print(f"ok: the filters, an app id, a hidden app and bad parameters answer as {args.against} does")
    return 0


def _visible_app_ids(model: MemoryProjection, workspace_id: str) -> list[str]:
    """The list's order: created_at newest first, then id descending (the index's order)."""
    index = model.zsets.get(keys.app_index(workspace_id), {})
    return [app_id for app_id, _ in sorted(index.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def _expected_page(
    model: MemoryProjection, workspace_id: str, ordered: list[str], page: int
) -> dict[str, Any]:
    chosen = ordered[(page - 1) * PAGE_LIMIT : page * PAGE_LIMIT]
    return {
        "page": page,
        "limit": PAGE_LIMIT,
        "total": len(ordered),
        "has_more": page * PAGE_LIMIT < len(ordered),
        "data": [_row(model, workspace_id, app_id) for app_id in chosen],
    }


def _variants(
    history: DemoHistory, model: MemoryProjection, ordered: list[str]
) -> list[tuple[str, dict[str, str | int]]]:
    """Filtered and refused lists, compared server against server (the fold has no list for them)."""
    workspace = history.workspace_id
    first = _row(model, workspace, ordered[0])
    tagged = next(
        (_row(model, workspace, app) for app in ordered if _row(model, workspace, app)["tags"]), first
    )
    hidden = [
        app_id
        for app_id, row in fold_rows(history.events).apps.items()
        if row["tenant_id"] == workspace and row["status"] == "normal" and not row["enable_api"]
    ]
    variants: list[tuple[str, dict[str, str | int]]] = [
        ("mode", {"workspace_id": workspace, "mode": first["mode"]}),
        ("tag", {"workspace_id": workspace, "tag": tagged["tags"][0]["name"] if tagged["tags"] else "x"}),
        ("unknown tag", {"workspace_id": workspace, "tag": "no such tag"}),
        ("name", {"workspace_id": workspace, "name": first["name"][1:5].upper()}),
        ("app id as name", {"workspace_id": workspace, "name": first["id"].upper()}),
        ("rag-pipeline", {"workspace_id": workspace, "mode": "rag-pipeline"}),
        ("limit 500", {"workspace_id": workspace, "limit": 500}),
        ("page 0", {"workspace_id": workspace, "page": 0}),
        ("unknown workspace", {"workspace_id": "00000000-0000-4000-8000-000000000000"}),
    ]
    if hidden:
        variants.append(("hidden app's id as name", {"workspace_id": workspace, "name": hidden[0]}))
    return variants


def _row(model: MemoryProjection, workspace_id: str, app_id: str) -> dict[str, Any]:
    """The app's list row as the read script completes it: its author's name, the workspace's."""
    stored = model.hashes[keys.app_rows(workspace_id)][app_id]
    author = model.hashes.get(keys.app_authors(workspace_id), {}).get(stored[:36].decode(), b"null")
    return orjson.loads(stored[36:] + author + model.hashes[keys.workspace(workspace_id)]["tail"])


def _compare_answers(what: str, answer: Answer, other: Answer) -> list[str]:
    if answer.status != other.status or _normalised(answer.body) != _normalised(other.body):
        return [f"{what}: {answer.status} {answer.body}\n  against {other.status} {other.body}"]
    return []


def _refusals(url: str, history: DemoHistory) -> list[str]:
    failures: list[str] = []
    answer = _get(url, _list_path(history.workspace_id, 1), None)
    unauthorized = {"code": "unauthorized", "message": "bearer required", "status": 401}
    if answer.status != 401 or answer.body != unauthorized:
        failures.append(f"no token: {answer.status} {answer.body}")
    if answer.headers.get("www-authenticate") != 'Bearer realm="api"':
        failures.append("no token: missing WWW-Authenticate challenge")
    answer = _get(url, "/openapi/v1/apps", history.token)
    required = {"code": "not_found", "message": "workspace not found", "status": 404}
    if answer.status != 404 or answer.body != required:
        failures.append(f"no workspace_id: {answer.status} {answer.body}")
    return failures


def _compare(what: str, answer: Answer, expected: Any) -> list[str]:
    if answer.status != 200:
        return [f"{what}: status {answer.status}, body {answer.body}"]
    failures = [
        f"{what}: header {name} is {answer.headers.get(name)!r}"
        for name, value in SECURITY_HEADERS.items()
        if answer.headers.get(name) != value
    ]
    if not answer.headers.get("content-type", "").startswith("application/json"):
        failures.append(f"{what}: Content-Type {answer.headers.get('content-type')!r}")
    body = answer.body
    if not isinstance(body, dict) or list(body) != ENVELOPE_KEYS:
        return [*failures, f"{what}: envelope keys {list(body) if isinstance(body, dict) else body!r}"]
    failures += [
        f"{what}: row {row.get('id')} keys {list(row)}" for row in body["data"] if list(row) != ROW_KEYS
    ]
    if _normalised(body) != _normalised(expected):
        failures.append(f"{what}: body differs\n  got      {body}\n  expected {expected}")
    return failures


def _normalised(envelope: Any) -> Any:
    """Tags compared as sets: Dify's tag query has no ORDER BY, so their order is not part of the answer."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), list):
        return envelope
    rows = [{**row, "tags": sorted(tag["name"] for tag in row["tags"])} for row in envelope["data"]]
    return {**envelope, "data": rows}


def _list_path(workspace_id: str, page: int) -> str:
    query = urllib.parse.urlencode({"workspace_id": workspace_id, "page": page, "limit": PAGE_LIMIT})
    return f"/openapi/v1/apps?{query}"


def _get(base: str, path: str, token: str | None) -> Answer:
    request = urllib.request.Request(base.rstrip("/") + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, _lowered(response.headers.items()), orjson.loads(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, _lowered(error.headers.items()), orjson.loads(error.read() or b"null"))


def _lowered(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


if __name__ == "__main__":
    sys.exit(main())
