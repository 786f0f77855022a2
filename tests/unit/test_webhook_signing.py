"""Webhook signatures follow Standard Webhooks: checked with the ``standardwebhooks`` library itself.

A receiver in any language verifies our events with its Standard Webhooks library and the
``whsec_`` secret; these tests are that receiver, in Python.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from headshot.webhooks import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookEventType,
    build_event,
    signing_keys,
    verify,
)

KEY = bytes(range(32))
OLD_KEY = bytes(range(100, 148))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OLD_SECRET = "whsec_" + base64.b64encode(OLD_KEY).decode()
# What CloudFormation generates (64 letters and digits): base64 text without the prefix.
GENERATED = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


def event(
    timestamp: int, secret: str = SECRET, event_id: str = "evt_job1_completed_r1"
) -> tuple[bytes, dict[str, str]]:
    data = {"job_id": "job1", "status": "completed", "name": "Zoë"}
    return build_event(
        event_id, WebhookEventType.JOB_COMPLETED, data, "2026-12-03T12:00:00Z",
        keys=signing_keys(secret), timestamp=timestamp,
    )  # fmt: skip


def test_the_standardwebhooks_library_verifies_an_event() -> None:
    # Given an event signed now with the whsec_ secret
    body, headers = event(int(time.time()))
    # When a receiver verifies it with the Standard Webhooks library and the same secret
    payload = Webhook(SECRET).verify(body, headers)
    # Then it is accepted and parses to the envelope
    assert payload["id"] == "evt_job1_completed_r1" and payload["type"] == "job.completed"
    # And the three standard headers carry the id, the timestamp and one v1 signature
    assert headers[ID_HEADER] == "evt_job1_completed_r1"
    assert headers[TIMESTAMP_HEADER].isdigit()
    assert headers[SIGNATURE_HEADER].startswith("v1,") and " " not in headers[SIGNATURE_HEADER]


def test_the_signature_is_the_documented_formula() -> None:
    # Given an event signed at a fixed time
    body, headers = event(1_760_000_000)
    # Then webhook-signature is v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
    signed = b"evt_job1_completed_r1.1760000000." + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    assert headers[SIGNATURE_HEADER] == f"v1,{expected}"
    assert headers[TIMESTAMP_HEADER] == "1760000000"


def test_a_tampered_body_a_wrong_key_or_a_stale_timestamp_fail_in_the_library() -> None:
    body, headers = event(int(time.time()))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"completed", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(body, headers)
    # A copy replayed with another id does not verify either: the id is signed
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, {**headers, ID_HEADER: "evt_other"})
    old_body, old_headers = event(int(time.time()) - 301)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(old_body, old_headers)


def test_during_rotation_two_signatures_verify_under_either_secret() -> None:
    # Given the secret holds the new key and the old one (rotation window)
    body, headers = event(int(time.time()), secret=f"{SECRET} {OLD_SECRET}")
    # Then the header carries two space-separated v1 signatures
    assert [part.split(",")[0] for part in headers[SIGNATURE_HEADER].split(" ")] == ["v1", "v1"]
    # And a receiver holding either secret accepts the event
    Webhook(SECRET).verify(body, headers)
    Webhook(OLD_SECRET).verify(body, headers)


def test_the_generated_secret_is_the_base64_key_receivers_prefix_with_whsec() -> None:
    # Given the secret as CloudFormation generates it (no prefix)
    body, headers = event(int(time.time()), secret=GENERATED)
    # Then a receiver configured with "whsec_" + that text verifies, and so does the bare text
    Webhook("whsec_" + GENERATED).verify(body, headers)
    Webhook(GENERATED).verify(body, headers)
    assert signing_keys(GENERATED) == (base64.b64decode(GENERATED),)


@pytest.mark.parametrize(
    "secret",
    ["", "   ", "whsec_", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode(), "whsec_test_0123"],
)
def test_a_missing_malformed_or_short_key_is_refused(secret: str) -> None:
    # A key that does not decode, or is shorter than the spec's 24 bytes, never signs anything
    with pytest.raises(ValueError):
        signing_keys(secret)


def test_our_verify_matches_the_library_and_its_tolerance() -> None:
    now = 1_760_000_000
    body, headers = event(now, secret=f"{SECRET} {OLD_SECRET}")
    assert verify(SECRET, body, headers, now=now + 300)
    assert verify(OLD_SECRET, body, headers, now=now - 300)
    assert not verify(SECRET, body, headers, now=now + 301)
    assert not verify(SECRET, body + b" ", headers, now=now)
    assert not verify(SECRET, body, {**headers, SIGNATURE_HEADER: "v1,AAAA v2,???"}, now=now)
    assert not verify(SECRET, body, {k: v for k, v in headers.items() if k != ID_HEADER}, now=now)
    assert not verify("whsec_???", body, headers, now=now)


def test_retries_keep_the_body_and_id_and_sign_afresh() -> None:
    body, headers = event(1_760_000_000)
    body2, headers2 = event(1_760_000_060)
    assert body2 == body and headers2[ID_HEADER] == headers[ID_HEADER]
    assert headers2[TIMESTAMP_HEADER] == "1760000060" and headers2[SIGNATURE_HEADER] != headers[SIGNATURE_HEADER]
    assert json.loads(body)["data"]["name"] == "Zoë"


def test_a_test_event_type_exists() -> None:
    assert WebhookEventType("webhook.test") is WebhookEventType.WEBHOOK_TEST


@pytest.mark.parametrize("event_id", ["evt\r\nX-Injected: 1", "", "e" * 201])
def test_build_event_refuses_ids_that_cannot_be_a_header(event_id: str) -> None:
    with pytest.raises(ValueError):
        event(1_760_000_000, event_id=event_id)
