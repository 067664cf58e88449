"""The generic pagination envelope and page/limit parsing shared by every list."""

from shared.envelope.pagination import PaginationEnvelope, render_spliced
from shared.envelope.paging import MAX_LIMIT, PageRequest, parse_page_request

__all__ = ["MAX_LIMIT", "PageRequest", "PaginationEnvelope", "parse_page_request", "render_spliced"]
