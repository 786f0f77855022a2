"""The one small standard-library HTTP server of the local stack.

The API Gateway emulator, the SageMaker async emulator and the demo's webhook receiver each serve
HTTP/1.1 from a background thread; this module is that skeleton once: a threaded server that
knows its application object and its open connections, a handler base that logs quietly, and
:class:`BackgroundServer`, which starts, names and stops the serving thread.

The inference container's own server (``headshot_inference/server.py``) does not use it: the
container ships alone in its image and must not import ``infra``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

__all__ = ["AppT", "BackgroundServer", "QuietHandler", "Server"]

AppT = TypeVar("AppT")


class Server(ThreadingHTTPServer, Generic[AppT]):
    """A threaded server holding ``app`` (what handlers serve) and its open connections."""

    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of clients (a load drill, 32 concurrent POSTs)
    # overflows it and the kernel resets the excess connections. API Gateway takes bursts; so do we.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: AppT) -> None:
        super().__init__(address, handler)
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_idle_connections(self) -> None:
        """End keep-alive connections: their handlers see end of input; a response being written still goes out."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as botocore's and urllib's pools expect); access lines go to DEBUG, never stderr."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        server = self._tracking_server()
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = self._tracking_server()
        with server.connections_lock:
            server.connections.discard(self.connection)
        super().finish()

    @property
    def app(self) -> Any:
        """The application object the server was built with (an emulator, a receiver)."""
        return self._tracking_server().app

    def _tracking_server(self) -> Server[Any]:
        server = self.server
        if not isinstance(server, Server):
            raise TypeError("QuietHandler serves only through httpserver.Server")
        return server

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger(type(self).__module__).debug("%s - %s", self.address_string(), format % args)


class BackgroundServer(Generic[AppT]):
    """Serves ``app`` with ``handler`` on a daemon thread named ``name``."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], app: AppT, *, name: str, poll_interval_s: float = 0.05
    ) -> None:
        self.handler = handler
        self.app = app
        self.name = name
        self.poll_interval_s = poll_interval_s
        self._server: Server[AppT] | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and serve in the background; return ``http://host:port``."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already running")
        server = Server((host, port), self.handler, self.app)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(self.poll_interval_s,), name=self.name, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self, join_timeout_s: float = 5.0) -> None:
        """Stop listening, end idle keep-alive connections, join the thread; a no-op when not running."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_idle_connections()
        if thread is not None:
            thread.join(timeout=join_timeout_s)

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound socket (IPv6 hosts in brackets)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
