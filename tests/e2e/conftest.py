"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from projector.broker.topology import Topology
from tests.e2e.faults import write_large_store
from tests.fixtures.broker import remove_topology
from tests.fixtures.services import BROKER_URL


@pytest.fixture(scope="session")
def large_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file of ~20k events, made once per session; tests copy it (`copy_store`)."""
    path = tmp_path_factory.mktemp("large-store") / "events.db"
    write_large_store(path)
    return path


@pytest.fixture
def suffix() -> Iterator[str]:
    """Exchange and queue names of the test's own on the shared RabbitMQ, removed afterwards."""
    value = f"test-{uuid.uuid4().hex[:12]}"
    yield value
    remove_topology(BROKER_URL, Topology.with_suffix(value))
