"""The generic pagination envelope and the page request shared by every list."""

from shared.envelope.pagination import PaginationEnvelope, render_spliced
from shared.envelope.paging import PageRequest

__all__ = ["PageRequest", "PaginationEnvelope", "render_spliced"]
