"""Webhooks (DESIGN.md §5): signing, target URL policy, SSRF-safe delivery, retry backoff.

Standard library only, so the API and the sender Lambda share it without extra packages.

Security model, in order:

1. ``validate_url`` is a pure syntax/policy check (job creation and again at send time):
   https only, no userinfo, no IP literals in any notation, host on the allow-list.
2. ``resolve_target`` resolves the host once and rejects the target if ANY address is not a
   public unicast address (private, loopback, link-local, metadata, ULA, shared, reserved,
   multicast, and IPv6 forms that embed such an IPv4 address).
3. ``deliver`` connects to those vetted addresses only; the host name is never resolved again,
   so DNS rebinding between check and connect cannot steer the request inward. TLS still
   verifies the certificate against the original host name (SNI + hostname check).

Redirects are never followed. Response bodies are read up to a cap and discarded. Nothing here
logs; results carry codes and status numbers, never the body, the URL's query or the secret.

Local stack only: ``WebhookPolicy.allow_loopback_http`` lets a canonical loopback literal
(``http://127.0.0.1:<port>/...`` or ``http://[::1]:<port>/...``) through without being on the
allow-list. Nothing else relaxes; a host *name* resolving to loopback is still refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

# --------------------------------------------------------------------------- events & signing

SIGNATURE_HEADER: Final = "Headshot-Signature"
EVENT_ID_HEADER: Final = "Headshot-Event-Id"
EVENT_TYPE_HEADER: Final = "Headshot-Event-Type"
USER_AGENT: Final = "headshot-webhooks/1"
DEFAULT_TOLERANCE_S: Final = 300


class WebhookEventType(StrEnum):
    JOB_COMPLETED = "job.completed"
    JOB_REJECTED = "job.rejected"
    JOB_FAILED = "job.failed"
    JOB_EXPIRED = "job.expired"


def _mac(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int, *, extra_secrets: Sequence[bytes] = ()) -> str:
    """The ``Headshot-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.

    ``extra_secrets`` add further ``v1=`` entries so receivers keep verifying while a key is
    being rotated (sign with old and new until every receiver has the new one).
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative int of unix seconds")
    secrets = [secret, *extra_secrets]
    if any(not s for s in secrets):
        # An empty HMAC key still "signs"; refuse so a missing secret never ships unsigned-in-effect.
        raise ValueError("webhook signing secret is empty")
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, body, timestamp)}" for s in secrets)])


_HEX64 = re.compile(r"[0-9a-f]{64}")


def verify(secret: bytes, body: bytes, header: str, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S) -> bool:
    """Whether ``header`` carries a valid, fresh signature of ``body`` under ``secret``.

    Any one matching ``v1=`` entry suffices (key rotation). Unknown schemes are ignored; a
    malformed header is simply invalid. Never raises.
    """
    if not secret or not isinstance(header, str):
        return False
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    # Exactly one t: with two, which one the HMAC covered would be ambiguous.
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit() or not candidates:
        return False
    t = int(timestamps[0])
    if abs(now - t) > tolerance_s:
        return False
    expected = _mac(secret, body, t).encode("ascii")
    matched = False
    for candidate in candidates:
        # compare_digest on equal-type bytes is constant time; check every entry, no early exit.
        ok = bool(_HEX64.fullmatch(candidate)) and hmac.compare_digest(expected, candidate.encode("ascii"))
        matched = matched or ok
    return matched


_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,200}")


def _iso(created_at: datetime | str) -> str:
    if isinstance(created_at, str):
        return created_at
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_event(
    event_id: str,
    event_type: WebhookEventType | str,
    data: Mapping[str, Any],
    created_at: datetime | str,
    *,
    secret: bytes,
    timestamp: int,
    extra_secrets: Sequence[bytes] = (),
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one delivery attempt.

    Call it per attempt with the current time: the body (and the event id) stay the same on
    every retry, the signature's ``t`` is fresh so receivers' staleness window holds.
    """
    kind = WebhookEventType(event_type)
    if not _HEADER_SAFE.fullmatch(event_id):
        # It becomes a header value: no CR/LF, spaces or non-ASCII (header injection).
        raise ValueError("event_id must be 1-200 visible ASCII characters")
    envelope = {"id": event_id, "type": kind.value, "created_at": _iso(created_at), "data": data}
    # Compact and deterministic for the same input; allow_nan=False keeps it strict JSON.
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: kind.value,
        SIGNATURE_HEADER: sign(secret, body, timestamp, extra_secrets=extra_secrets),
    }
    return body, headers


# --------------------------------------------------------------------------- URL policy


class WebhookErrorCode(StrEnum):
    """Stable codes for refused URLs (API 422 ``error.code``) and failed deliveries."""

    INVALID_URL = "webhook_url_invalid"
    SCHEME_NOT_ALLOWED = "webhook_url_scheme_not_allowed"
    USERINFO_NOT_ALLOWED = "webhook_url_userinfo_not_allowed"
    IP_LITERAL_NOT_ALLOWED = "webhook_url_ip_literal_not_allowed"
    HOST_NOT_ALLOWED = "webhook_url_host_not_allowed"
    ADDRESS_NOT_ALLOWED = "webhook_address_not_allowed"
    # Delivery outcomes (DeliveryResult.error_code).
    DNS_ERROR = "dns_error"
    CONNECT_ERROR = "connect_error"
    TLS_ERROR = "tls_error"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"
    REDIRECT_NOT_FOLLOWED = "redirect_not_followed"
    HTTP_ERROR = "http_error"


class WebhookUrlError(ValueError):
    """A webhook URL (or what its host resolves to) is refused by policy."""

    def __init__(self, code: WebhookErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


MAX_URL_LENGTH: Final = 2048
# Letters, digits, hyphens; dot-separated; ASCII only (IDNs must come as xn-- punycode so no
# Unicode mapping can turn e.g. fullwidth dots into an IP literal after our checks).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


def _normalise_host(host: str) -> str:
    return host.strip().lower().removesuffix(".")


def _looks_like_ipv4(host: str) -> bool:
    """True for every IPv4 notation a resolver might accept: 127.1, 0x7f000001, 2130706433, 0177.0.0.1.

    WHATWG URL rule: a host whose last label is a number is an IPv4 address. inet_aton is asked
    too because it is what getaddrinfo falls back to for such strings.
    """
    last = host.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last):
        return True
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


def _canonical_loopback(host: str) -> bool:
    """Only the plain spellings 127.x.y.z and ::1 qualify for the local-stack exception."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_loopback and str(ip) == host
    return ip == ipaddress.IPv6Address("::1")


def _check_allow_entry(entry: str) -> str:
    value = _normalise_host(entry)
    name = value.removeprefix("*.")
    if not _HOSTNAME.fullmatch(name) or _looks_like_ipv4(name):
        raise ValueError(f"webhook allow-list entry {entry!r} is not a host name or *.domain wildcard")
    if value.startswith("*.") and "." not in name:
        # "*.com" would open a whole TLD.
        raise ValueError(f"webhook allow-list wildcard {entry!r} is too broad")
    return value


def parse_allowed_hosts(raw: str) -> frozenset[str]:
    """Parse WEBHOOK_ALLOWED_HOSTS (comma-separated names or ``*.domain`` wildcards). Raises ValueError."""
    return frozenset(_check_allow_entry(part) for part in raw.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Which webhook URLs are acceptable.

    ``allowed_hosts``: exact host names, or ``*.example.com`` which matches any subdomain of
    example.com (any depth) but not example.com itself. Entries are case-insensitive. Any TCP
    port is accepted for an allowed https host: the host's owner controls every port on it.
    ``allow_loopback_http``: local stack only (see module docstring).
    """

    allowed_hosts: frozenset[str]
    allow_loopback_http: bool = False

    def __post_init__(self) -> None:
        # Normalise here so a hand-built policy behaves exactly like a parsed one.
        object.__setattr__(self, "allowed_hosts", frozenset(_check_allow_entry(h) for h in self.allowed_hosts))

    @classmethod
    def from_allowed_hosts(cls, raw: str, *, allow_loopback_http: bool = False) -> WebhookPolicy:
        return cls(parse_allowed_hosts(raw), allow_loopback_http)

    def allows_host(self, host: str) -> bool:
        if host in self.allowed_hosts:
            return True
        return any(e.startswith("*.") and host.endswith(e[1:]) for e in self.allowed_hosts)


@dataclass(frozen=True, slots=True)
class ParsedTarget:
    """A URL that passed ``validate_url``. ``host`` is lower-case, without brackets or trailing dot."""

    scheme: str
    host: str
    port: int
    request_target: str  # path + query, what goes on the request line
    loopback_exempt: bool = False


def validate_url(url: str, policy: WebhookPolicy) -> ParsedTarget:
    """Check a webhook URL against the policy (syntax and names only; no DNS). Raises WebhookUrlError."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(WebhookErrorCode.INVALID_URL, f"webhook_url must be 1-{MAX_URL_LENGTH} characters")
    # Non-ASCII, whitespace, control characters and backslashes are where parsers disagree.
    if not url.isascii() or any(c <= " " or c in "\x7f\\" for c in url):
        raise WebhookUrlError(
            WebhookErrorCode.INVALID_URL,
            "webhook_url must be plain ASCII without spaces, control characters or backslashes",
        )
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        explicit_port = parts.port
    except ValueError:
        raise WebhookUrlError(WebhookErrorCode.INVALID_URL, "webhook_url is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise WebhookUrlError(WebhookErrorCode.SCHEME_NOT_ALLOWED, "webhook_url must use https")
    if "@" in parts.netloc:
        raise WebhookUrlError(WebhookErrorCode.USERINFO_NOT_ALLOWED, "webhook_url must not contain credentials")
    if not hostname:
        raise WebhookUrlError(WebhookErrorCode.INVALID_URL, "webhook_url has no host")
    if explicit_port == 0:
        raise WebhookUrlError(WebhookErrorCode.INVALID_URL, "webhook_url port must be 1-65535")
    host = _normalise_host(hostname)

    exempt = policy.allow_loopback_http and _canonical_loopback(host)
    if scheme != "https" and not exempt:
        raise WebhookUrlError(WebhookErrorCode.SCHEME_NOT_ALLOWED, "webhook_url must use https")
    if not exempt:
        if ":" in host or _looks_like_ipv4(host):
            raise WebhookUrlError(
                WebhookErrorCode.IP_LITERAL_NOT_ALLOWED, "webhook_url must name a host, not an IP address"
            )
        if not _HOSTNAME.fullmatch(host):
            raise WebhookUrlError(
                WebhookErrorCode.INVALID_URL, "webhook_url host is not a valid DNS name (use xn-- for IDNs)"
            )
        if not policy.allows_host(host):
            raise WebhookUrlError(WebhookErrorCode.HOST_NOT_ALLOWED, "webhook_url host is not on the allow-list")

    port = explicit_port if explicit_port is not None else (443 if scheme == "https" else 80)
    path = parts.path or "/"
    request_target = f"{path}?{parts.query}" if parts.query else path  # the fragment is never sent
    return ParsedTarget(scheme, host, port, request_target, loopback_exempt=exempt)


# --------------------------------------------------------------------------- address rules

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})

# Explicit, so the verdict does not move with Python's is_global tables (they changed in
# 3.11/3.12 patch releases). is_global is still required on top as a catch-all.
_BLOCKED_V4: Final = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "an unspecified/this-network address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_BLOCKED_V6: Final = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("::/96", "an unspecified, loopback or IPv4-compatible address"),  # ::, ::1, deprecated ::a.b.c.d
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/23", "an IETF protocol address (Teredo included)"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a unique local (ULA) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted, or None if it is a public unicast address."""
    if ip in _METADATA:
        return "the cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        # Forms that carry an IPv4 address: judge that address, since traffic reaches it.
        if ip.ipv4_mapped is not None:
            return address_problem(ip.ipv4_mapped)
        if ip in _NAT64:
            # The translator forwards to the embedded IPv4 address (Python files the range under "reserved").
            return address_problem(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        # 6to4 and Teredo: refuse if the embedded IPv4 is bad, then judge the IPv6 address itself.
        embedded: list[ipaddress.IPv4Address] = []
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        for v4 in embedded:
            why = address_problem(v4)
            if why is not None:
                return f"an IPv6 address embedding {why}"
        blocked: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = _BLOCKED_V6
    else:
        blocked = _BLOCKED_V4
    for net, why in blocked:
        if ip in net:
            return why
    if ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_reserved:
        return "a special-purpose address"
    if not ip.is_global:
        return "a non-public address"
    return None


class Resolver(Protocol):
    """``socket.getaddrinfo``'s shape (positional host, port, family, type); injectable for tests."""

    def __call__(
        self, host: str, port: int, family: int = ..., socktype: int = ..., /
    ) -> Sequence[tuple[int, int, int, str, tuple[Any, ...]]]: ...


def resolve_target(
    target: ParsedTarget, policy: WebhookPolicy, resolver: Resolver = socket.getaddrinfo
) -> tuple[IPAddress, ...]:
    """Resolve once and vet every address; the caller connects only to what this returns.

    Raises WebhookUrlError(ADDRESS_NOT_ALLOWED) if ANY address is refused (an attacker who
    controls DNS could otherwise mix a public and a private answer), and OSError for DNS failure.
    """
    if target.loopback_exempt and policy.allow_loopback_http and _canonical_loopback(target.host):
        # A canonical literal: nothing to resolve, and the exemption covers exactly this address.
        # Re-checked against the policy so a hand-built ParsedTarget cannot claim the exemption.
        return (ipaddress.ip_address(target.host),)
    if ":" in target.host or _looks_like_ipv4(target.host):
        # validate_url already refuses these; a ParsedTarget built by hand must not bypass it.
        raise WebhookUrlError(WebhookErrorCode.IP_LITERAL_NOT_ALLOWED, "webhook_url must name a host, not an IP")
    infos = resolver(target.host, target.port, 0, socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise WebhookUrlError(WebhookErrorCode.ADDRESS_NOT_ALLOWED, "webhook host resolves to a non-IP address")
        try:
            # Drop any %scope: scoped addresses are link-local and refused anyway.
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            raise WebhookUrlError(
                WebhookErrorCode.ADDRESS_NOT_ALLOWED, "webhook host resolves to an unparseable address"
            ) from None
        why = address_problem(ip)
        if why is not None:
            raise WebhookUrlError(WebhookErrorCode.ADDRESS_NOT_ALLOWED, f"webhook host resolves to {why}")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")
    return tuple(addresses)


# --------------------------------------------------------------------------- pinned connections

DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0
MAX_RESPONSE_BYTES: Final = 64 * 1024


def _open_pinned(addresses: Sequence[IPAddress], port: int, connect_timeout: float) -> socket.socket:
    """TCP to the first vetted address that answers; names are never looked up here."""
    last: OSError | None = None
    for ip in addresses:
        try:
            # str(ip) is canonical numeric form, which getaddrinfo parses without DNS.
            return socket.create_connection((str(ip), port), timeout=connect_timeout)
        except OSError as exc:
            last = exc
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
        sock = _open_pinned(self.addresses, self.port, min(self.connect_timeout, self.timeout or self.connect_timeout))
        sock.settimeout(self.timeout)
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
        sock = _open_pinned(self.addresses, self.port, min(self.connect_timeout, self.timeout or self.connect_timeout))
        sock.settimeout(self.timeout)
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


# --------------------------------------------------------------------------- delivery


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


# --------------------------------------------------------------------------- backoff

SQS_MAX_VISIBILITY_S: Final = 43200


def retry_delay_seconds(attempt: int, *, base: int = 30, cap: int = 3600, jitter: random.Random | None = None) -> int:
    """Seconds to hide a message before the next try (ChangeMessageVisibility after attempt ``attempt``).

    ``attempt`` is 1-based, i.e. SQS's ApproximateReceiveCount of the failed try. The ceiling is
    ``base * 2**(attempt-1)``, limited by ``cap`` and SQS's 12 h visibility maximum. With
    ``jitter`` it is "full jitter" (uniform in [1, ceiling]) so retries of many events spread out;
    the 1 s floor keeps a failed event from coming straight back. Without it, the ceiling.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base < 1 or cap < 1:
        raise ValueError("base and cap must be positive")
    limit = min(cap, SQS_MAX_VISIBILITY_S)
    # Exponent clamped: 2**40 * base already exceeds any limit, and huge powers cost time.
    ceiling = min(limit, base * (1 << min(attempt - 1, 40)))
    if jitter is None:
        return ceiling
    return jitter.randint(1, ceiling)
