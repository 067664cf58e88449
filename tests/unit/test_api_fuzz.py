"""Fuzzing the OpenAPI document against the app: no 5xx, no answer outside the document."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from projector.seed import demo_history
from query_api.app import create_app
from shared.settings import Settings
from tests.fixtures.readmodel import project
from tests.fixtures.redis import make_fake_redis
from tests.support.limits import UNLIMITED

_DEMO = demo_history(seed=5, workspaces=2, apps=6)
_REDIS = make_fake_redis()
project(_REDIS, _DEMO.events)
_APP = create_app(Settings.from_env(UNLIMITED), redis=_REDIS)
schema = schemathesis.openapi.from_wsgi("/openapi/v1/openapi.json", _APP)


@schema.parametrize()
# Derandomized: the same cases every run, so a failure is a regression, never luck.
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_app_keeps_to_its_openapi_document(case: schemathesis.Case) -> None:
    # Where the case sends a bearer token at all, make it a real one so the fuzz reaches
    # past authentication; cases without the header test its absence.
    if case.headers and "Authorization" in case.headers:
        case.headers["Authorization"] = f"Bearer {_DEMO.token}"
    case.call_and_validate()
