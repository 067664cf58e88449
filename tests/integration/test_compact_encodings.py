"""An app's hash on a real Redis: what it holds, and that a deleted app's stays compact."""

from __future__ import annotations

import pytest

from projector.generations import live_generation
from shared.readmodel import keys
from tests.fixtures.readmodel import project
from tests.fixtures.redis_server import RedisServer
from tests.unit.api_events import History

pytestmark = pytest.mark.integration

WS = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
ADA = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"
APP = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"


def test_a_deleted_app_keeps_a_small_hash_in_redis_compact_encoding(redis_server: RedisServer) -> None:
    client = redis_server.client()
    history = History()
    form = [{"paragraph": {"label": "What happened?", "variable": "details", "required": True}}]
    # Separate batches: the app is shown (its hash needs Redis' table) before it is deleted.
    project(client, [history.workspace_created(WS), history.account_created(ADA)])
    project(client, [history.app_created(APP, WS, ADA, name="Helper " * 20)])
    project(client, [history.model_config_published(APP, WS, user_input_form=form)])
    generation = live_generation(client)
    assert generation is not None
    key = keys.full_key(generation, keys.app(WS, APP))
    shown = client.hgetall(key)
    assert {b"v", b"api", b"params", b"schema"} == set(shown)
    assert client.object("encoding", key) == b"hashtable"  # documents longer than 64 bytes
    assert client.hexists(keys.full_key(generation, keys.app_rows(WS)), APP)

    project(client, [history.app_deleted(APP, WS)])
    assert client.hgetall(key) == {b"v": f'3 ["{ADA}"]'.encode()}
    assert client.object("encoding", key) == b"listpack"
