"""The Dify golden kit: a real Dify's recorded answers, and how the read model is held to them.

The kit (`../dify-golden/` beside the repository's parent, read-only) holds a Dify database,
the bearer tokens, a request matrix and Dify's answers before and after a set of changes.
This module loads it, builds each request's headers, normalises what the kit's README says
means nothing (tag order, the order of `/account` workspaces and of members), and states
the read model's deliberate differences: where it answers on purpose otherwise than Dify,
the intended answer is derived from Dify's own answers to sibling requests where it can be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIT = Path(__file__).resolve().parents[2].parent / "shared" / "dify-golden"

BASE = "/openapi/v1"
COMPARED_HEADERS = ("Content-Type", "WWW-Authenticate")
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
_WWW_AUTHENTICATE = 'Bearer realm="api"'
_TIMESTAMP = re.compile(r"'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?:\+00)?'::timestamp")


@dataclass(frozen=True, slots=True)
class Request:
    """One line of the request matrix."""

    id: str
    phase: str
    path_and_query: str
    token_label: str | None
    authorization: str | None
    note: str

    @property
    def path(self) -> str:
        return self.path_and_query.split("?", 1)[0]

    @property
    def query_string(self) -> str:
        return self.path_and_query.split("?", 1)[1] if "?" in self.path_and_query else ""


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back (or should): status, the compared headers, the parsed body."""

    status: int
    headers: dict[str, str]
    body: Any


class Kit:
    """The kit's files, parsed."""

    def __init__(self, folder: Path = KIT) -> None:
        self.folder = folder
        self.tokens: dict[str, dict[str, Any]] = json.loads((folder / "tokens.json").read_text())
        self.requests = [
            Request(
                id=line["id"],
                phase=line["phase"],
                path_and_query=line["path_and_query"],
                token_label=line.get("token"),
                authorization=line.get("authorization"),
                note=line.get("note", ""),
            )
            for line in _jsonl(folder / "requests.jsonl")
        ]
        self.answers = {
            phase: {
                line["id"]: Answer(line["status"], line.get("headers", {}), line["body"])
                for line in _jsonl(folder / f"answers-{phase}.jsonl")
            }
            for phase in ("before", "after")
        }

    @classmethod
    def available(cls, folder: Path = KIT) -> bool:
        return (folder / "requests.jsonl").is_file()

    def phase(self, phase: str) -> list[Request]:
        return [r for r in self.requests if r.phase == phase]

    def authorization(self, request: Request) -> str | None:
        """The exact Authorization header the request was recorded with (None: no header)."""
        token = self.tokens[request.token_label]["token"] if request.token_label else None
        if request.authorization is not None:
            return request.authorization.replace("{token}", token or "")
        return None if token is None else f"Bearer {token}"

    def recorded_at_epoch(self) -> float:
        """A moment within the recording: just after the last change `changes.sql` writes.

        Sessions in the kit expire a month after it was made; judging expiry at this moment
        keeps the comparison true whenever the test runs.
        """
        from datetime import UTC, datetime

        text = (self.folder / "changes.sql").read_text()
        stamps = sorted(datetime.fromisoformat(s).replace(tzinfo=UTC) for s in _TIMESTAMP.findall(text))
        # Expiry times a month ahead appear too (a re-login's new session): keep the day of the
        # recording.
        latest = max(s for s in stamps if (s - stamps[0]).days < 1)
        return latest.timestamp() + 60


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        if line.strip():
            yield json.loads(line)


# --- what means nothing -------------------------------------------------------------------


def normalise(path: str, body: Any) -> Any:
    """Make order that Dify leaves undefined comparable (the kit's README lists it)."""
    if not isinstance(body, dict):
        return body
    body = json.loads(json.dumps(body))
    if path.startswith(f"{BASE}/apps"):
        for row in body.get("data", []) if isinstance(body.get("data"), list) else []:
            _sort_tags(row)
        if isinstance(body.get("info"), dict):
            _sort_tags(body["info"])
    if path == f"{BASE}/account" and isinstance(body.get("workspaces"), list):
        body["workspaces"].sort(key=lambda w: w.get("id", ""))
    if path.endswith("/members") and isinstance(body.get("data"), list):
        body["data"].sort(key=lambda m: m.get("id", ""))
    return body


def _sort_tags(row: Any) -> None:
    if isinstance(row, dict) and isinstance(row.get("tags"), list):
        row["tags"].sort(key=lambda t: json.dumps(t, sort_keys=True))


def differences(expected: Answer, actual: Answer, path: str) -> list[str]:
    """What differs: status, compared headers, body (key order included)."""
    found = []
    if expected.status != actual.status:
        found.append(f"status {actual.status}, expected {expected.status}")
    for name in COMPARED_HEADERS:
        if expected.headers.get(name) != actual.headers.get(name):
            found.append(f"{name} {actual.headers.get(name)!r}, expected {expected.headers.get(name)!r}")
    for name, value in SECURITY_HEADERS.items():
        if actual.headers.get(name) != value:
            found.append(f"{name} {actual.headers.get(name)!r}, expected {value!r} (always sent)")
    want, got = normalise(path, expected.body), normalise(path, actual.body)
    if _ordered(want) != _ordered(got):
        found.append(
            "body "
            + json.dumps(got, ensure_ascii=False)[:1500]
            + "\n   expected "
            + json.dumps(want, ensure_ascii=False)[:1500]
        )
    return found


def _ordered(value: Any) -> Any:
    """A value whose equality also checks the order of object keys."""
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


# --- the read model's deliberate differences ----------------------------------------------


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status}


def intended(kit: Kit, request: Request, recorded: Answer) -> tuple[Answer, str | None]:
    """The answer the read model must give, and why it is not Dify's (None: it is Dify's).

    docs/api.md, "Differences from Dify", lists each of these with its reason.
    """
    answers = kit.answers[request.phase]
    json_headers = {"Content-Type": "application/json"}
    if (
        recorded.status == 500
        and request.path.startswith(f"{BASE}/workspaces/")
        and "not-a-uuid" in request.path
    ):
        body = _error(404, "not_found", "workspace not found")
        return Answer(404, json_headers, body), "a non-UUID workspace id is unknown, not a 500"
    if recorded.status == 500:
        message, code = _bearer_refusal(kit, request)
        headers = {**json_headers, "WWW-Authenticate": _WWW_AUTHENTICATE}
        return Answer(401, headers, _error(401, code, message)), "a bearer Dify cannot resolve is a 401"
    if _is_seed_route(request):
        return _seed_route_answer(kit, request, answers), "the seed's per-app routes stay served"
    if recorded.status == 400 and "limit=" in request.query_string and request.path == f"{BASE}/apps":
        return _wide_page(kit, request, answers), "limit up to 200 on the list"
    return recorded, None


def _bearer_refusal(kit: Kit, request: Request) -> tuple[str, str]:
    header = kit.authorization(request) or ""
    token = header.partition(" ")[2].strip()
    if not token.startswith(("dfoa_", "dfoe_")):
        return "unknown token prefix", "unauthorized"
    label = request.token_label
    state = kit.tokens[label][request.phase] if label and request.authorization is None else None
    # A session past its expiry that Dify has not yet hard-expired ("active (expires_at in the
    # past)"); once it has, its hash is gone and the token is simply unknown.
    if state is not None and "expires_at in the past" in state:
        return "token expired", "token_expired"
    return "token unknown or revoked", "unauthorized"


_SEED_ROUTE = re.compile(rf"^{BASE}/apps/([^/]+)(/parameters)?$")


def _is_seed_route(request: Request) -> bool:
    return _SEED_ROUTE.match(request.path) is not None


def _seed_route_answer(kit: Kit, request: Request, answers: dict[str, Answer]) -> Answer:
    """`GET /apps/{id}` is describe's info without its last three keys; `/parameters` is
    describe's parameters, or 400 app_unavailable where describe shows the placeholder."""
    match = _SEED_ROUTE.match(request.path)
    assert match is not None
    app_id, parameters = match.group(1), match.group(2)
    sibling = _describe_of(kit, request, app_id)
    if sibling is None or sibling.status != 200:
        return sibling or Answer(
            404, {"Content-Type": "application/json"}, _error(404, "not_found", "app not found")
        )
    headers = {"Content-Type": "application/json"}
    if parameters:
        block = sibling.body["parameters"]
        if block.get("system_parameters") == {}:
            unavailable = "App unavailable, please check your app configurations."
            return Answer(400, headers, _error(400, "app_unavailable", unavailable))
        return Answer(200, headers, block)
    info = sibling.body["info"]
    keys = ("id", "name", "description", "mode", "author", "tags")
    return Answer(200, headers, {key: info[key] for key in keys})


def _describe_of(kit: Kit, request: Request, app_id: str) -> Answer | None:
    """Dify's describe answer for the same app, caller and phase."""
    for other in kit.phase(request.phase):
        same_caller = other.token_label == request.token_label and other.authorization is None
        if other.path == f"{BASE}/apps/{app_id}/describe" and other.query_string == "" and same_caller:
            return kit.answers[request.phase][other.id]
    return None


def _wide_page(kit: Kit, request: Request, answers: dict[str, Answer]) -> Answer:
    """A limit of 101-200 answers as limit=100 does, echoing the limit asked for."""
    limit = int(dict(part.split("=", 1) for part in request.query_string.split("&"))["limit"])
    for other in kit.phase(request.phase):
        sibling = other.path_and_query == request.path_and_query.replace(f"limit={limit}", "limit=100")
        if sibling and other.token_label == request.token_label:
            page = dict(answers[other.id].body)
            page["limit"] = limit
            page["has_more"] = page["page"] * limit < page["total"]
            return Answer(200, answers[other.id].headers, page)
    raise AssertionError(f"no limit=100 sibling of {request.id}")
