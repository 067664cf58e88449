"""WSGI entry point for granian: `granian --interface wsgi --factory query_api.wsgi:create`."""

from __future__ import annotations

import os

import falcon

from query_api.app import create_app
from query_api.operations import sql_store_probe
from shared.settings import Settings


def create() -> falcon.App:
    """Settings from the environment, then the app: called once per worker process."""
    settings = Settings.from_env(os.environ)
    # With the store in reach, readiness also judges lag and stalls against its head.
    return create_app(settings, head_probe=sql_store_probe(settings.database_url))
