"""The ceiling: a Falcon hello-world (about 2 KB of JSON) on the same server as the API."""

from __future__ import annotations

import falcon
import orjson

BODY = orjson.dumps(
    {
        "page": 1,
        "limit": 20,
        "total": 100,
        "has_more": True,
        "data": [{"id": f"{i:032x}", "name": f"hello {i}", "mode": "chat", "tags": []} for i in range(20)],
    },
)


class Hello:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = BODY


def create() -> falcon.App:
    app = falcon.App()
    app.add_route("/hello", Hello())
    return app
