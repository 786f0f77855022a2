"""Job events for the client's webhook: what goes on the queue (the sender renders the body at send time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from headshot.jobs import Job, iso, utcnow
from headshot.usecases.ports import WebhookQueue, WebhookRequest
from headshot.webhooks import WebhookEventType

__all__ = ["Notify", "WebhookRequest", "webhook_event_id"]


def webhook_event_id(job: Job, event_type: WebhookEventType) -> str:
    # Stable across retries and duplicate enqueues of the same event.
    return f"evt_{job.job_id}_{event_type.value.removeprefix('job.')}_r{job.round}"


@dataclass(frozen=True, slots=True)
class Notify:
    """Queue one event for a job that has a webhook; functions without a queue notify nobody."""

    queue: WebhookQueue | None
    clock: Callable[[], datetime] = utcnow

    def __call__(self, job: Job, event_type: WebhookEventType) -> None:
        if not job.webhook_url or self.queue is None:
            return
        self.queue.send(WebhookRequest(job.job_id, event_type, webhook_event_id(job, event_type), iso(self.clock())))
