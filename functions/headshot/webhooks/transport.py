"""Pinned HTTP(S) connections: TCP only to vetted addresses, TLS still checked against the host name."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

from headshot.webhooks.addresses import IPAddress

DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0


def _open_pinned(
    addresses: Sequence[IPAddress], port: int, timeout: float | None, connect_timeout: float
) -> socket.socket:
    """TCP to the first vetted address that answers (names are never looked up here), with
    the connection's read timeout set; connecting waits at most the shorter of the two."""
    last: OSError | None = None
    for ip in addresses:
        try:
            # str(ip) is canonical numeric form, which getaddrinfo parses without DNS.
            sock = socket.create_connection((str(ip), port), timeout=min(connect_timeout, timeout or connect_timeout))
        except OSError as exc:
            last = exc
            continue
        sock.settimeout(timeout)
        return sock
    raise last if last is not None else OSError("no address to connect to")


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a vetted address; only reachable through the local-stack loopback exemption."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: Sequence[IPAddress],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = tuple(addresses)
        self.connect_timeout = connect_timeout

    def connect(self) -> None:
        sock = _open_pinned(self.addresses, self.port, self.timeout, self.connect_timeout)
        self.sock = sock


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose TCP goes to a vetted address while TLS (SNI + certificate check) uses ``host``."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: Sequence[IPAddress],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        context: ssl.SSLContext | None = None,
    ) -> None:
        ctx = context if context is not None else _default_tls_context()
        super().__init__(host, port, timeout=timeout, context=ctx)
        self.addresses = tuple(addresses)
        self.connect_timeout = connect_timeout
        self.tls_context = ctx  # kept publicly: http.client's own attribute is private

    def connect(self) -> None:
        sock = _open_pinned(self.addresses, self.port, self.timeout, self.connect_timeout)
        # Exposed before the handshake so deliver()'s deadline watchdog can cut a stalled handshake too.
        self.sock = sock
        try:
            self.sock = self.tls_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            self.sock = None
            sock.close()
            raise


@lru_cache(maxsize=1)
def _default_tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds; build it once per process.
    # create_default_context() verifies certificates and host names (CERT_REQUIRED, check_hostname).
    return ssl.create_default_context()
