"""GET /apps and GET /apps/{app_id}/describe (and the seed's /apps/{app_id}[/parameters])."""

from __future__ import annotations

import falcon

from query_api.bodies import describe_body, empty_page, page_body, parameters_body
from query_api.conditional import send_tagged
from query_api.middleware import Served
from query_api.queries import AppsQuery
from shared.auth.errors import AppUnavailable, BadRequest
from shared.readmodel.reads import PARAMETERS, SUMMARY, AppPageRead, AppRead

# What Dify answers when its list is asked for the one mode its app service cannot filter
# by: the text of the validation error it does not catch, as it renders it.
RAG_PIPELINE_REFUSED = (
    "1 validation error for AppListParams\nmode\n  Input should be 'completion', 'chat', 'advanced-chat', "
    "'workflow', 'agent-chat', 'agent', 'channel' or 'all' [type=literal_error, input_value='rag-pipeline', "
    "input_type=str]\n    For further information visit https://errors.pydantic.dev/2.12/v/literal_error"
)


class AppsResource:
    """A workspace's listed apps, one page at a time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        served: Served = req.context.served
        query: AppsQuery = served.query
        read: AppPageRead = served.read  # type: ignore[assignment]
        page = query.page
        assert page is not None
        if query.exact_app_id:
            # A UUID-valued name is an app id: that app alone, or nothing (Dify's own shape).
            body = page_body(1, 1, read.total, read.rows) if read.total else empty_page(page)
        elif query.tag and not read.tag_known:
            body = empty_page(page)
        elif served.parsed.wants_rag_pipeline:
            raise BadRequest(RAG_PIPELINE_REFUSED)
        else:
            body = page_body(page.page, page.limit, read.total, read.rows)
        send_tagged(req, resp, body, served.auth.session_id)


class AppResource:
    """One app: its description, and the seed's summary and parameters."""

    def __init__(self, system_parameters: bytes) -> None:
        self._system = system_parameters

    def on_get(self, req: falcon.Request, resp: falcon.Response, app_id: str) -> None:
        served: Served = req.context.served
        read: AppRead = served.read  # type: ignore[assignment]
        send_tagged(req, resp, read.fields[SUMMARY] or b"{}", served.auth.session_id)

    def on_get_parameters(self, req: falcon.Request, resp: falcon.Response, app_id: str) -> None:
        served: Served = req.context.served
        read: AppRead = served.read  # type: ignore[assignment]
        stored = read.fields[PARAMETERS]
        if stored is None:
            raise AppUnavailable
        send_tagged(req, resp, parameters_body(stored, self._system), served.auth.session_id)

    def on_get_describe(self, req: falcon.Request, resp: falcon.Response, app_id: str) -> None:
        served: Served = req.context.served
        read: AppRead = served.read  # type: ignore[assignment]
        send_tagged(req, resp, describe_body(read.fields, self._system), served.auth.session_id)
