"""Prometheus' multiprocess mode for granian's API workers."""

from __future__ import annotations

import tempfile
from collections.abc import MutableMapping

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_worker_metrics(
    env: MutableMapping[str, str], workers: int, *, shared_with_this_process: bool = False
) -> tempfile.TemporaryDirectory[str] | None:
    """Give several workers a fresh shared directory for their metric values, before they start.

    `shared_with_this_process`: even one worker gets the directory, so that metrics this
    process creates afterwards show on the workers' /metrics too (`readmodel up`).

    prometheus_client picks its value store when it is imported, from the environment; the
    workers are forked from this process, so the choice is refreshed here in case it was
    imported already. A directory the operator set is used as it is (they must empty it
    between runs, as prometheus_client asks). Returns the directory to clean up, if any.
    """
    if (workers <= 1 and not shared_with_this_process) or env.get(MULTIPROC_VARIABLE):
        return None
    directory = tempfile.TemporaryDirectory(prefix="readmodel-metrics-")
    env[MULTIPROC_VARIABLE] = directory.name
    from prometheus_client import values

    values.ValueClass = values.get_value_class()
    return directory
