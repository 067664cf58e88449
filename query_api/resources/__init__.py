"""One resource class per URI family; responders render what the auth middleware read."""

from query_api.resources.apps import AppResource, AppsResource
from query_api.resources.identity import (
    AccountResource,
    SessionsResource,
    WorkspaceResource,
    WorkspacesResource,
)
from query_api.resources.ops import OpsResource

__all__ = [
    "AccountResource",
    "AppResource",
    "AppsResource",
    "OpsResource",
    "SessionsResource",
    "WorkspaceResource",
    "WorkspacesResource",
]
