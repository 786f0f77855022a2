"""Host-name syntax shared by the settings (the webhook allow-list) and the webhook URL policy.

A leaf on purpose: settings.py parses ``WEBHOOK_ALLOWED_HOSTS`` at start without importing any
webhook delivery code, and ``headshot.webhooks.targets`` judges URLs with the same rules.
"""

from __future__ import annotations

import re
import socket

# Letters, digits, hyphens; dot-separated; ASCII only (IDNs must come as xn-- punycode so no
# Unicode mapping can turn e.g. fullwidth dots into an IP literal after our checks).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


def normalise_host(host: str) -> str:
    """Lower-case, trimmed, without the trailing root dot: the form every comparison uses."""
    return host.strip().lower().removesuffix(".")


def looks_like_ipv4(host: str) -> bool:
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


def check_allow_entry(entry: str) -> str:
    """One allow-list entry, normalised: a host name or a ``*.domain`` wildcard. Raises ValueError."""
    value = normalise_host(entry)
    name = value.removeprefix("*.")
    if not HOSTNAME.fullmatch(name) or looks_like_ipv4(name):
        raise ValueError(f"webhook allow-list entry {entry!r} is not a host name or *.domain wildcard")
    if value.startswith("*.") and "." not in name:
        # "*.com" would open a whole TLD.
        raise ValueError(f"webhook allow-list wildcard {entry!r} is too broad")
    return value


def parse_allowed_hosts(raw: str) -> frozenset[str]:
    """Parse WEBHOOK_ALLOWED_HOSTS (comma-separated names or ``*.domain`` wildcards). Raises ValueError."""
    return frozenset(check_allow_entry(part) for part in raw.split(",") if part.strip())
