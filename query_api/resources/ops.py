"""Public routes: the served Dify version, liveness and the OpenAPI document."""

from __future__ import annotations

import falcon
import orjson


class OpsResource:
    """GET /_version, GET /_health and GET /openapi.json; none reads the read model."""

    def __init__(self, dify_version: str, dify_edition: str, openapi_document: bytes) -> None:
        # Dify's enterprise edition is self-hosted as far as /_version tells.
        edition = "CLOUD" if dify_edition == "CLOUD" else "SELF_HOSTED"
        self._version = orjson.dumps({"version": dify_version, "edition": edition})
        self._openapi = openapi_document

    def on_get_version(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._version

    def on_get_health(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = b'{"ok":true}'

    def on_get_openapi(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._openapi
