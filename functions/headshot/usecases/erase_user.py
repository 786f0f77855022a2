"""DELETE /v1/me: erasure on request of everything the service holds about the caller (GDPR Art. 17).

Every job of the caller is erased as DELETE erases one (objects first, then the record marked
deleted, then the objects again for anything a racing writer added), and then the record itself
goes, with the caller's quota item. Writers that arrive later (a photo check, an inference
result) find no record and erase what they wrote. The webhook endpoints the caller's jobs named
each get one `user.erased` event listing the jobs they knew, so the app can erase its copies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from headshot.jobs import Job, JobError, iso, utcnow
from headshot.usecases.delete_job import DeleteJob
from headshot.usecases.ports import JobStore, OwnerPosition, WebhookQueue, WebhookRequest
from headshot.webhooks import WebhookEventType

PAGE: Final = 100
# The by_owner index is eventually consistent: a job created a moment ago may show on a later
# read only, so the listing is read again until it names no job that still exists.
MAX_PASSES: Final = 5


def _new_event_id() -> str:
    return f"evt_user_erased_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class EraseUser:
    store: JobStore
    delete_job: DeleteJob
    webhooks: WebhookQueue | None
    clock: Callable[[], datetime] = utcnow
    new_event_id: Callable[[], str] = field(default=_new_event_id)

    def __call__(self, owner_sub: str) -> dict[str, Any]:
        # 1. Each job of the caller erased, then its record removed; who was told of which job noted.
        erased: list[str] = []
        endpoints: dict[str, list[str]] = {}
        for _ in range(MAX_PASSES):
            found = [job for job in self._jobs_of(owner_sub) if job.job_id not in erased]
            if not found:
                break
            for job in found:
                if job.webhook_url:
                    endpoints.setdefault(job.webhook_url, []).append(job.job_id)
                try:
                    self.delete_job(owner_sub, job.job_id)
                except JobError as error:
                    if error.code != "not_found":  # removed meanwhile (an erasure in parallel)
                        raise
                self.store.remove(job.job_id)
                erased.append(job.job_id)
        # 2. The caller's quota item.
        self.store.remove_reservations(owner_sub)
        # 3. One user.erased per endpoint (its target and data travel with the message: no record is left).
        erased_at = iso(self.clock())
        event_ids = []
        for target_url, job_ids in endpoints.items():
            event_id = self.new_event_id()
            data = {"subject": owner_sub, "erased_at": erased_at, "job_ids": sorted(job_ids)}
            if self.webhooks is not None:
                self.webhooks.send(WebhookRequest("", WebhookEventType.USER_ERASED, event_id, erased_at,
                                                  target_url=target_url, data=data))  # fmt: skip
                event_ids.append(event_id)
        return {"status": "erased", "erased_jobs": len(erased), "erased_at": erased_at, "webhook_event_ids": event_ids}

    def _jobs_of(self, owner_sub: str) -> Iterator[Job]:
        after: OwnerPosition | None = None
        while True:
            page = self.store.list_by_owner(owner_sub, PAGE, after)
            yield from page
            if len(page) < PAGE:
                return
            after = OwnerPosition(iso(page[-1].created_at), page[-1].job_id)
