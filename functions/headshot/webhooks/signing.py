"""Signed webhook events in the Standard Webhooks scheme (https://www.standardwebhooks.com).

Headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>``, the
signature an HMAC-SHA256 over ``<id>.<timestamp>.<body>``, so receivers verify with the
``standardwebhooks`` library of their language. Standard library only, so the API, the
sender Lambda and receivers' examples share it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
USER_AGENT: Final = "headshot-webhooks/1"
# The libraries' window (5 minutes either way); receivers should not widen it.
DEFAULT_TOLERANCE_S: Final = 300
SECRET_PREFIX: Final = "whsec_"
# The spec's key sizes; a shorter key is a configuration mistake, not a key.
MIN_KEY_BYTES: Final = 24
MAX_KEY_BYTES: Final = 64


class WebhookEventType(StrEnum):
    JOB_COMPLETED = "job.completed"
    JOB_REJECTED = "job.rejected"
    JOB_FAILED = "job.failed"
    JOB_EXPIRED = "job.expired"
    JOB_CANCELLED = "job.cancelled"
    USER_ERASED = "user.erased"
    WEBHOOK_TEST = "webhook.test"


def signing_keys(secret: str) -> tuple[bytes, ...]:
    """The HMAC keys in the signing secret's text, newest first.

    The text holds one key, or two separated by whitespace while a key is rotated. Each key is
    base64, with or without the ``whsec_`` prefix (CloudFormation's 64 letters and digits are
    base64 of 48 bytes). Raises ValueError for anything else, so nothing is signed with a bad key.
    """
    keys: list[bytes] = []
    for word in secret.split():
        text = word.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("webhook signing key is not base64") from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValueError(f"webhook signing key must be {MIN_KEY_BYTES}-{MAX_KEY_BYTES} bytes")
        keys.append(key)
    if not keys:
        raise ValueError("webhook signing secret is empty")
    return tuple(keys)


def _mac(key: bytes, event_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, f"{event_id}.{timestamp}.".encode("ascii") + body, hashlib.sha256).digest()


def sign(keys: Sequence[bytes], event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per key, space-separated."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative int of unix seconds")
    if not keys or any(not key for key in keys):
        # An empty HMAC key still "signs"; refuse so a missing secret never ships unsigned-in-effect.
        raise ValueError("webhook signing secret is empty")
    return " ".join(f"v1,{base64.b64encode(_mac(key, event_id, timestamp, body)).decode('ascii')}" for key in keys)


def verify(
    secret: str, body: bytes, headers: Mapping[str, str], now: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """Whether ``headers`` carry a valid, fresh signature of ``body`` under any key in ``secret``.

    What a Standard Webhooks library does, for this repository's demo and benchmarks. Never raises.
    """
    try:
        keys = signing_keys(secret)
    except ValueError:
        return False
    lower = {name.lower(): value for name, value in headers.items()}
    event_id = lower.get(ID_HEADER, "")
    stamp = lower.get(TIMESTAMP_HEADER, "")
    if not event_id or not stamp.isascii() or not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    candidates: list[bytes] = []
    for item in lower.get(SIGNATURE_HEADER, "").split(" "):
        version, _, value = item.partition(",")
        if version != "v1":
            continue  # other schemes are ignored, as the spec says
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    matched = False
    for key in keys:
        expected = _mac(key, event_id, int(stamp), body)
        for candidate in candidates:
            # Every pair is compared (no early exit), each in constant time.
            matched = hmac.compare_digest(expected, candidate) or matched
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
    keys: Sequence[bytes],
    timestamp: int,
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one delivery attempt.

    Call it per attempt with the current time: the body and ``webhook-id`` stay the same on
    every retry, the timestamp and signature are fresh so receivers' tolerance window holds.
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
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(keys, event_id, timestamp, body),
    }
    return body, headers
