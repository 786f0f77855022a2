"""Signed webhook events: the envelope, the ``Headshot-Signature`` header, and its verification.

Standard library only, so the API, the sender Lambda and receivers' examples share it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

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
