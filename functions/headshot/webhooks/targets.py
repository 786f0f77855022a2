"""Webhook target URL policy: which URLs a job may name (syntax and names only; no DNS here).

https only, no userinfo, no IP literals in any notation, host on the allow-list. The local
stack's ``allow_loopback_http`` lets a canonical loopback literal through and nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from headshot.hostnames import HOSTNAME, check_allow_entry, looks_like_ipv4, normalise_host, parse_allowed_hosts
from headshot.webhooks.errors import WebhookErrorCode, WebhookUrlError

MAX_URL_LENGTH: Final = 2048


def canonical_loopback(host: str) -> bool:
    """Only the plain spellings 127.x.y.z and ::1 qualify for the local-stack exception."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_loopback and str(ip) == host
    return ip == ipaddress.IPv6Address("::1")


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Which webhook URLs are acceptable.

    ``allowed_hosts``: exact host names, or ``*.example.com`` which matches any subdomain of
    example.com (any depth) but not example.com itself. Entries are case-insensitive. Any TCP
    port is accepted for an allowed https host: the host's owner controls every port on it.
    ``allow_loopback_http``: local stack only (see the package docstring).
    """

    allowed_hosts: frozenset[str]
    allow_loopback_http: bool = False

    def __post_init__(self) -> None:
        # Normalise here so a hand-built policy behaves exactly like a parsed one.
        object.__setattr__(self, "allowed_hosts", frozenset(check_allow_entry(h) for h in self.allowed_hosts))

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
    host = normalise_host(hostname)

    exempt = policy.allow_loopback_http and canonical_loopback(host)
    if scheme != "https" and not exempt:
        raise WebhookUrlError(WebhookErrorCode.SCHEME_NOT_ALLOWED, "webhook_url must use https")
    if not exempt:
        if ":" in host or looks_like_ipv4(host):
            raise WebhookUrlError(
                WebhookErrorCode.IP_LITERAL_NOT_ALLOWED, "webhook_url must name a host, not an IP address"
            )
        if not HOSTNAME.fullmatch(host):
            raise WebhookUrlError(
                WebhookErrorCode.INVALID_URL, "webhook_url host is not a valid DNS name (use xn-- for IDNs)"
            )
        if not policy.allows_host(host):
            raise WebhookUrlError(WebhookErrorCode.HOST_NOT_ALLOWED, "webhook_url host is not on the allow-list")

    port = explicit_port if explicit_port is not None else (443 if scheme == "https" else 80)
    path = parts.path or "/"
    request_target = f"{path}?{parts.query}" if parts.query else path  # the fragment is never sent
    return ParsedTarget(scheme, host, port, request_target, loopback_exempt=exempt)
