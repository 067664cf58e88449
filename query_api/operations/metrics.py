"""The query API's Prometheus metrics, and reading them back for /metrics and the status page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REQUEST_DURATION = "readmodel_http_request_duration_seconds"
# Sub-millisecond reads are the norm; a tail past a second means Redis or the host is in trouble.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
STALL_REASONS = ("watermark_stuck", "no_live_generation")


class ApiMetrics:
    """Every metric the API process exports, registered on one registry.

    Under several granian workers (PROMETHEUS_MULTIPROC_DIR set before prometheus_client is
    imported) the values live in files shared by the workers; `render` then merges them.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        multiprocess_dir: str | None = None,
        also: Sequence[CollectorRegistry] = (),
    ) -> None:
        self.registry = registry
        self.multiprocess_dir = multiprocess_dir
        # Registries of other parts of this process served on the same /metrics (`readmodel
        # up` adds its projector's); a family or series both have is the API's.
        self._also = tuple(also)
        self.request_duration = Histogram(
            REQUEST_DURATION,
            "API requests by route template, method and status, with their latency.",
            ("route", "method", "status"),
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.auth_failures = Counter(
            "readmodel_auth_failures_total",
            "Requests refused by the auth chain (or the admin token check), by reason.",
            ("reason",),
            registry=registry,
        )
        self.redis_roundtrip = Histogram(
            "readmodel_redis_roundtrip_seconds",
            "Redis round trips timed by the process (PING on readiness checks and samples).",
            ("process",),
            buckets=REDIS_BUCKETS,
            registry=registry,
        )
        self.ready = Gauge(
            "readmodel_ready",
            "1 when the last readiness check passed.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.stalled = Gauge(
            "readmodel_projector_stalled",
            "1 while the projector is judged stalled for this reason (store head moving, watermark not).",
            ("reason",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        for reason in STALL_REASONS:
            self.stalled.labels(reason).set(0)
        self._children: dict[tuple[str, str, str], Any] = {}

    def observe_request(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one request; the labelled child is cached (labels() takes a lock)."""
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.request_duration.labels(route, method, status)
        child.observe(seconds)

    def set_stalled(self, reasons: Iterable[str]) -> None:
        """Raise the gauge for each current reason and lower it for the others."""
        current = set(reasons)
        for reason in STALL_REASONS:
            self.stalled.labels(reason).set(1 if reason in current else 0)

    def collecting_registry(self) -> CollectorRegistry:
        """The registry to read: this process's, or every worker's merged from the shared files."""
        if self.multiprocess_dir is not None:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=self.multiprocess_dir)
            return merged
        if self._also:
            merged = CollectorRegistry(auto_describe=False)
            merged.register(MergedFamilies((self.registry, *self._also)))
            return merged
        return self.registry

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.collecting_registry())

    def request_stats(self) -> list[RouteStats]:
        """Cumulative request counts and latency buckets per route (all methods and statuses)."""
        return route_stats(self.collecting_registry())


class MergedFamilies(Collector):
    """The families of several registries as one exposition: a name appears once, a series once.

    The first registry holding a family gives its help and type, and a series (a sample's
    name and labels) both hold is taken from the first; the others add the series it lacks.
    """

    def __init__(self, registries: Sequence[CollectorRegistry]) -> None:
        self._registries = tuple(registries)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for registry in self._registries:
            for family in registry.collect():
                kept = families.setdefault(family.name, family)
                fresh = [s for s in family.samples if (s.name, tuple(sorted(s.labels.items()))) not in series]
                series.update((s.name, tuple(sorted(s.labels.items()))) for s in fresh)
                if kept is not family:
                    kept.samples.extend(fresh)
        return list(families.values())


@dataclass(slots=True)
class RouteStats:
    """One route's requests since the process (or the workers) started."""

    route: str
    count: float = 0.0
    errors: float = 0.0
    seconds: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    @property
    def p99(self) -> float | None:
        return quantile(0.99, self.buckets, self.count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "count": self.count,
            "errors": self.errors,
            "seconds": self.seconds,
            "p99": self.p99,
            "buckets": [[bound, count] for bound, count in sorted(self.buckets.items())],
        }


def route_stats(registry: CollectorRegistry) -> list[RouteStats]:
    """Sum the request histogram over methods and statuses, per route."""
    by_route: dict[str, RouteStats] = {}
    for family in registry.collect():
        if family.name != REQUEST_DURATION:
            continue
        for sample in family.samples:
            route = sample.labels.get("route", "")
            stats = by_route.setdefault(route, RouteStats(route))
            if sample.name.endswith("_count"):
                stats.count += sample.value
                if sample.labels.get("status", "").startswith("5"):
                    stats.errors += sample.value
            elif sample.name.endswith("_sum"):
                stats.seconds += sample.value
            elif sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                stats.buckets[bound] = stats.buckets.get(bound, 0.0) + sample.value
    return sorted(by_route.values(), key=lambda stats: stats.route)


def quantile(q: float, buckets: dict[float, float], count: float) -> float | None:
    """The q-quantile from cumulative buckets, interpolated as Prometheus' histogram_quantile."""
    if count <= 0 or not buckets:
        return None
    rank = q * count
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in sorted(buckets.items()):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            width = cumulative - lower_count
            fraction = 0.0 if width == 0 else (rank - lower_count) / width
            return lower_bound + (bound - lower_bound) * fraction
        lower_bound, lower_count = bound, cumulative
    return lower_bound


def new_api_metrics(
    multiprocess_dir: str | None = None, *, also: Sequence[CollectorRegistry] = ()
) -> ApiMetrics:
    """Metrics on a registry of their own (one per app: tests build many apps in one process)."""
    # No `_created` series: one per counter and histogram child, read by no dashboard here.
    # prometheus_client has one switch for the whole process.
    disable_created_metrics()
    return ApiMetrics(CollectorRegistry(auto_describe=True), multiprocess_dir=multiprocess_dir, also=also)
