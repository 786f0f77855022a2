"""POST /v1/jobs/{id}/webhook/redeliver: the job's last event again, with its id, through the sender."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headshot.jobs import Job, JobError, JobStatus
from headshot.usecases.access import not_found, owned_job
from headshot.usecases.ports import JobStore, WebhookQueue, WebhookRequest
from headshot.webhooks import WebhookEventType


def last_event(job: Job) -> tuple[str, dict[str, Any]] | None:
    """The latest event whose outcome is recorded (delivered or given up), or None.

    Events still being retried are not recorded yet; the sender is on them already.
    """
    ranked = [(str(record.get("at", "")), index, event_id, record)
              for index, (event_id, record) in enumerate(job.deliveries.items())]  # fmt: skip
    if not ranked:
        return None
    _, _, event_id, record = max(ranked, key=lambda item: (item[0], item[1]))
    return event_id, record


@dataclass(frozen=True, slots=True)
class RedeliverWebhook:
    store: JobStore
    queue: WebhookQueue | None

    def __call__(self, owner_sub: str, job_id: str) -> dict[str, Any]:
        job = owned_job(self.store, owner_sub, job_id)
        if job.status is JobStatus.DELETED:
            raise not_found()
        last = last_event(job) if job.webhook_url else None
        if last is None:
            raise JobError("no_webhook_event", "the job has no webhook event delivered or given up on yet")
        if self.queue is None:
            # A wiring mistake (the function has no WEBHOOK_QUEUE_URL), not the client's.
            raise RuntimeError("no webhook queue is configured for this function")
        event_id, record = last
        event_type = WebhookEventType(record["type"])
        # Records from before created_at was kept fall back to when the outcome was recorded.
        created_at = str(record.get("created_at") or record["at"])
        self.queue.send(WebhookRequest(job.job_id, event_type, event_id, created_at, redelivery=True))
        return {"event_id": event_id, "type": event_type.value}
