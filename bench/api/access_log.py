"""What the access log costs per request: the WSGI app called in-process, lines on or off.

    uv run python bench/api/access_log.py [--requests 20000] [--rounds 5]

`GET /openapi/v1/_health` (no Redis round trip, so the log line's share is as large as it
gets) is called straight through the WSGI interface with the JSON log lines going to
/dev/null, alternating READMODEL_ACCESS_LOG=1 and =0 round by round; the best round of each
is printed in µs per request.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from typing import Any

import fakeredis

from query_api.app import create_app
from shared.logs import configure_logging
from shared.settings import Settings


def per_request_us(app: Any, requests: int) -> float:
    environ_base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/openapi/v1/_health",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }

    def start_response(_status: str, _headers: list[tuple[str, str]]) -> None:
        return None

    started = time.perf_counter()
    for _ in range(requests):
        for _chunk in app(dict(environ_base), start_response):
            pass
    return (time.perf_counter() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with open(os.devnull, "w") as sink:
        configure_logging(stream=sink)
        redis = fakeredis.FakeRedis()
        apps = {
            flag: create_app(Settings.from_env({"READMODEL_ACCESS_LOG": flag}), redis=redis)
            for flag in ("1", "0")
        }
        best = {flag: float("inf") for flag in apps}
        for _ in range(args.rounds):
            for flag, app in apps.items():
                best[flag] = min(best[flag], per_request_us(app, args.requests))
    print(f"access log on:  {best['1']:.1f} µs per request")
    print(f"access log off: {best['0']:.1f} µs per request")
    print(f"the line costs: {best['1'] - best['0']:.1f} µs")


if __name__ == "__main__":
    main()
