"""Serving the API inside another process: a threaded WSGI server, for `readmodel up`.

`readmodel serve` runs granian instead; this one exists so the single-process mode can share
its embedded (in-memory) Redis with the API. It speaks HTTP/1.0 (one request per connection).
"""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

logger = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class InProcessServer:
    """A running in-process server; `stop()` shuts it down and waits for its thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_in_process(app: Any, host: str, port: int) -> InProcessServer:
    """Serve `app` on a background thread, one thread per connection; port 0 picks a free one."""
    server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="query-api", daemon=True)
    thread.start()
    return InProcessServer(server, thread)
