"""Operations of the query API: metrics, readiness, stall detection and the admin status page."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from query_api.operations.admin import AdminGate
from query_api.operations.metrics import ApiMetrics, new_api_metrics
from query_api.operations.middleware import RequestTelemetry
from query_api.operations.probe import SqlStoreProbe, StoreProbe, sql_store_probe
from query_api.operations.readiness import Readiness
from query_api.operations.resources import MetricsResource, OpsPageResource, ReadyResource
from query_api.operations.status import OpsStatus
from shared.settings import Settings

__all__ = [
    "ApiMetrics",
    "MetricsResource",
    "Operations",
    "OpsPageResource",
    "ReadyResource",
    "SqlStoreProbe",
    "StoreProbe",
    "build_operations",
    "new_api_metrics",
    "sql_store_probe",
]


@dataclass(frozen=True, slots=True)
class Operations:
    """The operational resources and the telemetry middleware of one app."""

    metrics: ApiMetrics
    telemetry: RequestTelemetry
    ready: ReadyResource
    metrics_resource: MetricsResource
    ops_page: OpsPageResource


def build_operations(
    settings: Settings,
    redis: Any,
    *,
    head_probe: StoreProbe | None = None,
    metrics: ApiMetrics | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> Operations:
    """Compose the operational side of the API around its Redis client and optional store probe."""
    metrics = metrics or new_api_metrics(settings.metrics_multiprocess_dir)
    readiness = Readiness(
        redis,
        head_probe,
        metrics,
        max_lag_seconds=settings.ready_max_lag_seconds,
        stall_seconds=settings.stall_seconds,
        clock=clock,
        monotonic=monotonic,
    )
    status = OpsStatus(redis, head_probe, readiness, metrics, clock=clock)
    return Operations(
        metrics=metrics,
        telemetry=RequestTelemetry(metrics, access_log=settings.access_log),
        ready=ReadyResource(readiness),
        metrics_resource=MetricsResource(metrics),
        ops_page=OpsPageResource(AdminGate(settings.admin_token), status),
    )
