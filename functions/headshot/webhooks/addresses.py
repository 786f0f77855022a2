"""SSRF address vetting: resolve a vetted target once and refuse it if any address is not public unicast."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any, Final, Protocol

from headshot.hostnames import looks_like_ipv4
from headshot.webhooks.errors import WebhookErrorCode, WebhookUrlError
from headshot.webhooks.targets import ParsedTarget, WebhookPolicy, canonical_loopback

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
    if target.loopback_exempt and policy.allow_loopback_http and canonical_loopback(target.host):
        # A canonical literal: nothing to resolve, and the exemption covers exactly this address.
        # Re-checked against the policy so a hand-built ParsedTarget cannot claim the exemption.
        return (ipaddress.ip_address(target.host),)
    if ":" in target.host or looks_like_ipv4(target.host):
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
