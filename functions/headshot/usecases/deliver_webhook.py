"""One webhook delivery attempt: signed, to a vetted target, recorded on the job when final."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from headshot.jobs import Job, JobStatus, iso, utcnow
from headshot.settings import ControlPlaneSettings
from headshot.usecases.access import public_job
from headshot.usecases.create_job import webhook_policy
from headshot.usecases.notifications import WebhookRequest
from headshot.usecases.ports import JobStore, ObjectStorage, WebhookSender, update
from headshot.webhooks import DeliveryResult, build_event, retry_delay_seconds, signing_keys


class DeliveryState(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # recorded on the job; no more attempts help
    DROPPED = "dropped"  # the job is gone, deleted, or has no webhook


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    state: DeliveryState
    retry_after_s: int | None = None
    result: DeliveryResult | None = None


@dataclass(frozen=True, slots=True)
class DeliverWebhook:
    settings: ControlPlaneSettings
    store: JobStore
    storage: ObjectStorage
    send: WebhookSender
    clock: Callable[[], datetime] = utcnow

    def __call__(self, request: WebhookRequest, attempt: int, secret: str) -> DeliveryOutcome:
        """The caller turns RETRY into a delayed redelivery of the message.

        ``secret`` is the signing secret's text (one key, or two while rotating; see signing_keys).
        """
        if request.target_url is not None:
            return self._deliver_standalone(request, request.target_url, attempt, secret)
        # 1. Only for a live job with a webhook, and only until delivered.
        job = self.store.get(request.job_id)
        if job is None or not job.webhook_url or job.status is JobStatus.DELETED:
            return DeliveryOutcome(DeliveryState.DROPPED)
        if job.deliveries.get(request.event_id, {}).get("status") == "delivered" and not request.redelivery:
            return DeliveryOutcome(DeliveryState.DELIVERED)
        # 2. The body is the job as it is now, signed at send time.
        now = self.clock()
        body, headers = build_event(
            request.event_id,
            request.event_type,
            public_job(job, self.storage, now),
            request.created_at,
            keys=signing_keys(secret),
            timestamp=int(now.timestamp()),
        )
        result = self.send(job.webhook_url, body, headers, webhook_policy(self.settings))
        # 3. Retry while it may help, with backoff; otherwise the outcome is recorded on the job.
        retry = self._retry(result, attempt)
        if retry is not None:
            return retry
        record = {
            "type": request.event_type.value,
            "status": "delivered" if result.ok else "failed",
            "attempts": attempt,
            "http_status": result.status,
            "error_code": result.error_code,
            "at": iso(now),
            # When the event happened: a redelivery sends the same envelope again.
            "created_at": request.created_at,
        }

        def note(current: Job) -> None:
            current.deliveries[request.event_id] = record

        update(self.store, request.job_id, note)
        return DeliveryOutcome(DeliveryState.DELIVERED if result.ok else DeliveryState.FAILED, None, result)

    def _deliver_standalone(
        self, request: WebhookRequest, target_url: str, attempt: int, secret: str
    ) -> DeliveryOutcome:
        """An event about no live job (user.erased): its data and target came with it; nothing is recorded."""
        now = self.clock()
        body, headers = build_event(
            request.event_id, request.event_type, request.data or {}, request.created_at,
            keys=signing_keys(secret), timestamp=int(now.timestamp()),
        )  # fmt: skip
        result = self.send(target_url, body, headers, webhook_policy(self.settings))
        retry = self._retry(result, attempt)
        if retry is not None:
            return retry
        return DeliveryOutcome(DeliveryState.DELIVERED if result.ok else DeliveryState.FAILED, None, result)

    def _retry(self, result: DeliveryResult, attempt: int) -> DeliveryOutcome | None:
        """RETRY with a backoff delay while another attempt may help; None once the outcome is final."""
        if result.ok or not result.retryable or attempt >= self.settings.webhook_max_attempts:
            return None
        delay = retry_delay_seconds(attempt, base=self.settings.webhook_retry_base_s, jitter=random.Random())
        return DeliveryOutcome(DeliveryState.RETRY, delay, result)
