"""POST /v1/webhooks/test: one signed ``webhook.test`` event to a URL, sent now, its outcome answered.

Synchronous on purpose: a developer wiring up a receiver wants to see the status their endpoint
answered, not find out later. One attempt, no retries, the same URL policy and SSRF vetting as
job events; nothing is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from headshot.jobs import JobError, utcnow
from headshot.settings import ControlPlaneSettings
from headshot.usecases.create_job import webhook_policy
from headshot.usecases.ports import SigningSecret, WebhookSender
from headshot.webhooks import WebhookEventType, WebhookUrlError, build_event, signing_keys, validate_url


def _new_event_id() -> str:
    return f"evt_test_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class SendTestEvent:
    settings: ControlPlaneSettings
    send: WebhookSender
    secret: SigningSecret
    clock: Callable[[], datetime] = utcnow
    new_event_id: Callable[[], str] = field(default=_new_event_id)

    def __call__(self, webhook_url: str) -> dict[str, Any]:
        policy = webhook_policy(self.settings)
        try:
            validate_url(webhook_url, policy)
        except WebhookUrlError as error:
            raise JobError("invalid_webhook_url", str(error)) from None
        now = self.clock()
        event_id = self.new_event_id()
        data = {"test": True, "message": "a test event sent by POST /v1/webhooks/test"}
        body, headers = build_event(
            event_id, WebhookEventType.WEBHOOK_TEST, data, now,
            keys=signing_keys(self.secret()), timestamp=int(now.timestamp()),
        )  # fmt: skip
        # deliver() resolves and vets the addresses again and never raises for the endpoint's faults.
        result = self.send(webhook_url, body, headers, policy)
        return {
            "event_id": event_id,
            "type": WebhookEventType.WEBHOOK_TEST.value,
            "delivered": result.ok,
            "http_status": result.status,
            "error_code": result.error_code,
            "elapsed_ms": result.elapsed_ms,
        }
