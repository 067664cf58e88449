"""The composition root of the query API: settings and a Redis client in, a Falcon app out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import falcon
import falcon.media
import orjson

from query_api.bodies import system_parameters
from query_api.errors import install_error_handlers
from query_api.middleware import AuthMiddleware, ResponseHeaders
from query_api.operations import (
    ApiMetrics,
    MetricsResource,
    OpsPageResource,
    ReadyResource,
    StoreProbe,
    build_operations,
)
from query_api.rate_limit import Buckets, RateLimiter
from query_api.repository import Repository
from query_api.resources import (
    AccountResource,
    AppResource,
    AppsResource,
    OpsResource,
    SessionsResource,
    WorkspaceResource,
    WorkspacesResource,
)
from query_api.routes import route_table
from shared.errors import ConfigurationError
from shared.readmodel.connection import connect
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Resources:
    """The resource instances the route table wires up."""

    apps: AppsResource
    app: AppResource
    workspaces: WorkspacesResource
    workspace: WorkspaceResource
    account: AccountResource
    sessions: SessionsResource
    ops: OpsResource
    ready: ReadyResource
    metrics: MetricsResource
    ops_page: OpsPageResource


def openapi_document() -> bytes:
    """The OpenAPI 3.1 description of this service, as shipped in the package."""
    return resources.files("query_api").joinpath("openapi.json").read_bytes()


def create_app(
    settings: Settings,
    *,
    redis: Any = None,
    clock: Callable[[], float] = time.time,
    head_probe: StoreProbe | None = None,
    metrics: ApiMetrics | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> falcon.App:
    """Build the WSGI app; `redis` defaults to a client for `settings.redis_url`.

    `clock` (epoch seconds) judges token and session expiry at request time. `head_probe`
    (a read-only view of the event store) lets /_ready judge lag and stalls against the
    store's head; `monotonic` times those stalls.
    """
    client = connect_redis(settings) if redis is None else redis
    limiter = RateLimiter(settings.rate_limits, Buckets(_rate_limit_redis(settings, client)))
    repository = Repository(client, token_budget=limiter.token_budget_in_read)
    operations = build_operations(
        settings, client, head_probe=head_probe, metrics=metrics, clock=clock, monotonic=monotonic
    )
    parts = Resources(
        apps=AppsResource(),
        app=AppResource(system_parameters(settings.upload_limits)),
        workspaces=WorkspacesResource(),
        workspace=WorkspaceResource(),
        account=AccountResource(),
        sessions=SessionsResource(),
        ops=OpsResource(settings.dify_version, settings.dify_edition, openapi_document()),
        ready=operations.ready,
        metrics=operations.metrics_resource,
        ops_page=operations.ops_page,
    )
    routes = route_table(parts)
    app = falcon.App(
        media_type=falcon.MEDIA_JSON,
        middleware=[
            operations.telemetry,  # first: it times the whole request and writes its headers last
            ResponseHeaders(repository),
            AuthMiddleware(routes, repository, clock, limiter),
        ],
    )
    json_handler = falcon.media.JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    # Keep `page=` as an empty value (a 400), not as absent; the parsers decide per parameter.
    app.req_options.keep_blank_qs_values = True
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    install_error_handlers(app)
    for route in routes:
        app.add_route(route.uri, route.resource, suffix=route.suffix)
    return app


def _rate_limit_redis(settings: Settings, read_model: Any) -> Any:
    """Where the rate limits' buckets live: Dify's Redis when one is named, else the read model's."""
    url = settings.rate_limits.redis_url
    return read_model if url is None else connect(url)


def connect_redis(settings: Settings) -> Any:
    """A client for the configured Redis; the embedded stand-in is handed in by `readmodel up`."""
    if settings.redis_is_embedded:
        raise ConfigurationError(
            "READMODEL_REDIS_URL: the query API needs a real Redis here; "
            "the embedded one is only shared in-process by `readmodel up`",
        )
    return connect(settings.redis_url)
