"""The provisioned Grafana dashboard: every panel scoped by job and instance, one quantity per panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from projector.observability.metrics import new_projector_metrics
from query_api.operations.metrics import new_api_metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "readmodel.json"
# A metric name and the label matchers right after it, if any.
SELECTOR = re.compile(r"(readmodel_[a-z_]+)(\{[^}]*\})?")


def panels() -> list[dict[str, Any]]:
    return json.loads(DASHBOARD.read_text())["panels"]


def exported() -> set[str]:
    """Every family name the processes export (a histogram's or counter's base name)."""
    names: set[str] = set()
    for registry in (new_projector_metrics().registry, new_api_metrics().registry):
        names.update(family.name for family in registry.collect())
    return names


def family(series: str) -> str:
    return re.sub(r"_(bucket|count|sum|total)$", "", series)


def test_the_dashboard_has_job_and_instance_variables() -> None:
    variables = {item["name"]: item for item in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    assert set(variables) == {"job", "instance"}
    assert "$job" in variables["instance"]["query"]["query"]  # instances of the jobs chosen


def test_every_query_is_scoped_by_job_and_instance() -> None:
    for panel in panels():
        for target in panel["targets"]:
            selectors = SELECTOR.findall(target["expr"])
            assert selectors, target["expr"]
            for name, matchers in selectors:
                assert 'job=~"$job"' in matchers, (panel["title"], name)
                assert 'instance=~"$instance"' in matchers, (panel["title"], name)


def test_every_series_drawn_is_exported() -> None:
    known = {family(name) for name in exported()}
    for panel in panels():
        for target in panel["targets"]:
            for name, _ in SELECTOR.findall(target["expr"]):
                assert family(name) in known, (panel["title"], name)


def test_a_latency_panel_shows_one_histogram() -> None:
    for panel in panels():
        histograms = {
            family(name) for target in panel["targets"] for name, _ in SELECTOR.findall(target["expr"])
        } & {family(name) for name in exported() if name.endswith("_seconds")}
        assert len(histograms) <= 1, (panel["title"], histograms)
    titles = {panel["title"]: panel for panel in panels()}
    assert "readmodel_redis_roundtrip_seconds" in json.dumps(titles["Redis round trip p99"]["targets"])
    assert "readmodel_apply_batch_seconds" in json.dumps(titles["Apply batch p99"]["targets"])
