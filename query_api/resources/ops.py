"""Public routes: the served Dify version, liveness and the OpenAPI document."""

from __future__ import annotations

import falcon
import orjson

EDITION = "SELF_HOSTED"


class OpsResource:
    """GET /_version, GET /_health and GET /openapi.json; none reads the read model."""

    def __init__(self, dify_version: str, openapi_document: bytes) -> None:
        self._version = orjson.dumps({"version": dify_version, "edition": EDITION})
        self._openapi = openapi_document

    def on_get_version(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._version

    def on_get_health(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = b'{"ok":true}'

    def on_get_openapi(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._openapi
