"""GET /apps and GET /apps/{app_id}[/parameters|/describe]."""

from __future__ import annotations

from collections.abc import Mapping

import falcon

from query_api.bodies import describe_body, page_body, parameters_body
from query_api.conditional import send_tagged
from query_api.queries import (
    AppQuery,
    AppsQuery,
    describe_blocks,
    describe_query,
    parameters_query,
    parse_apps_query,
    summary_query,
)
from shared.auth.errors import AppUnavailable
from shared.readmodel.reads import PARAMETERS, SUMMARY


class AppsResource:
    """A workspace's visible apps, one page at a time."""

    def query(self, params: Mapping[str, str], path: Mapping[str, str]) -> AppsQuery:
        return parse_apps_query(params)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query, read = req.context.query, req.context.read
        send_tagged(req, resp, page_body(query.page, read.total, read.rows), req.context.auth.session_id)


class AppResource:
    """One app: its summary, its parameters and its description."""

    def __init__(self, system_parameters: bytes) -> None:
        self._system = system_parameters

    def query(self, params: Mapping[str, str], path: Mapping[str, str]) -> AppQuery:
        return summary_query(path["app_id"])

    def on_get(self, req: falcon.Request, resp: falcon.Response, app_id: str) -> None:
        send_tagged(req, resp, req.context.read.fields[SUMMARY], req.context.auth.session_id)

    def query_parameters(self, params: Mapping[str, str], path: Mapping[str, str]) -> AppQuery:
        return parameters_query(path["app_id"])

    def on_get_parameters(self, req: falcon.Request, resp: falcon.Response, app_id: str) -> None:
        stored = req.context.read.fields[PARAMETERS]
        if stored is None:
            raise AppUnavailable
        send_tagged(req, resp, parameters_body(stored, self._system), req.context.auth.session_id)

    def query_describe(self, params: Mapping[str, str], path: Mapping[str, str]) -> AppQuery:
        return describe_query(path["app_id"], describe_blocks(params.get("fields")))

    def on_get_describe(self, req: falcon.Request, resp: falcon.Response, app_id: str) -> None:
        body = describe_body(req.context.read.fields, self._system)
        send_tagged(req, resp, body, req.context.auth.session_id)
