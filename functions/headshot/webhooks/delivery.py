"""One delivery attempt: validate, resolve and vet, POST over a pinned connection, classify the outcome."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from headshot.webhooks.addresses import Resolver, resolve_target
from headshot.webhooks.errors import WebhookErrorCode, WebhookUrlError
from headshot.webhooks.targets import WebhookPolicy, validate_url
from headshot.webhooks.transport import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
)

# Response bodies are read up to this many bytes and discarded.
MAX_RESPONSE_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One attempt's outcome. ``status`` is the HTTP status when one arrived; ``error_code`` a WebhookErrorCode."""

    ok: bool
    status: int | None
    error_code: str | None
    retryable: bool
    elapsed_ms: int


def _classify_status(status: int) -> tuple[bool, str | None, bool]:
    if 200 <= status < 300:
        return True, None, False
    if 300 <= status < 400:
        # Never followed (it could point anywhere); a moved endpoint is a receiver misconfiguration.
        return False, WebhookErrorCode.REDIRECT_NOT_FOLLOWED, False
    if status in (408, 429) or status >= 500:
        return False, WebhookErrorCode.HTTP_ERROR, True
    return False, WebhookErrorCode.HTTP_ERROR, False


def _shutdown(conn: http.client.HTTPConnection, fired: threading.Event) -> None:
    fired.set()
    sock = conn.sock
    if sock is not None:
        # Unblocks a recv stuck on a slow-dripping server; the read then fails promptly.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _drain(response: http.client.HTTPResponse, cap: int) -> None:
    remaining = cap
    try:
        while remaining > 0:
            chunk = response.read(min(remaining, 16 * 1024))
            if not chunk:
                return
            remaining -= len(chunk)
    except (OSError, http.client.HTTPException):
        # The status already decided the outcome; the body is discarded anyway.
        return


def deliver(
    target_url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: WebhookPolicy,
    *,
    resolver: Resolver = socket.getaddrinfo,
    timeout: float = DEFAULT_TIMEOUT_S,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryResult:
    """POST one signed event. Never raises for URL, DNS, network or HTTP problems.

    2xx ok; 3xx not followed, not retryable; 408/429/5xx and network trouble retryable;
    other 4xx and policy refusals not retryable. ``timeout`` bounds the whole attempt.
    """
    started = time.monotonic()

    def result(ok: bool, status: int | None, code: str | None, retryable: bool) -> DeliveryResult:
        return DeliveryResult(ok, status, code, retryable, int((time.monotonic() - started) * 1000))

    try:
        target = validate_url(target_url, policy)
        addresses = resolve_target(target, policy, resolver)
    except WebhookUrlError as exc:
        return result(False, None, exc.code, False)
    except (OSError, UnicodeError):
        # Temporary DNS failures are common; the attempt cap bounds a permanently dead name.
        return result(False, None, WebhookErrorCode.DNS_ERROR, True)

    remaining = max(0.001, timeout - (time.monotonic() - started))
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = PinnedHTTPSConnection(
            target.host, target.port, addresses, timeout=remaining, connect_timeout=connect_timeout, context=ssl_context
        )
    else:
        conn = PinnedHTTPConnection(
            target.host, target.port, addresses, timeout=remaining, connect_timeout=connect_timeout
        )
    send_headers = {**headers, "Connection": "close"}

    # Socket timeouts are per operation; the watchdog enforces the total deadline.
    fired = threading.Event()
    watchdog = threading.Timer(remaining, _shutdown, args=(conn, fired))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", target.request_target, body=body, headers=send_headers)
        response = conn.getresponse()
        if fired.is_set():
            # Cut off mid-headers: http.client takes the EOF as the end of them, so this status is untrustworthy.
            return result(False, None, WebhookErrorCode.TIMEOUT, True)
        status = response.status
        # The status decides; a body cut short by the deadline changes nothing.
        _drain(response, MAX_RESPONSE_BYTES)
    except TimeoutError:
        return result(False, None, WebhookErrorCode.TIMEOUT, True)
    except ssl.SSLError:
        # Certificate or handshake trouble is often fixed by the receiver; retry within the cap.
        code = WebhookErrorCode.TIMEOUT if fired.is_set() else WebhookErrorCode.TLS_ERROR
        return result(False, None, code, True)
    except http.client.HTTPException:
        code = WebhookErrorCode.TIMEOUT if fired.is_set() else WebhookErrorCode.PROTOCOL_ERROR
        return result(False, None, code, True)
    except OSError:
        code = WebhookErrorCode.TIMEOUT if fired.is_set() else WebhookErrorCode.CONNECT_ERROR
        return result(False, None, code, True)
    finally:
        watchdog.cancel()
        conn.close()
    ok, outcome, retryable = _classify_status(status)
    return result(ok, status, outcome, retryable)
