"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.faults import write_large_store


@pytest.fixture(scope="session")
def large_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file of ~20k events, made once per session; tests copy it (`copy_store`)."""
    path = tmp_path_factory.mktemp("large-store") / "events.db"
    write_large_store(path)
    return path
