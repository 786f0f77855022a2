"""POST /v1/jobs/{id}/cancel: a job not yet finished stops for good (`cancelled`, reason
`cancelled_by_user`), and the client's webhook hears `job.cancelled`.

The change is a conditional write on the version read, so a cancel racing the validator or an
inference result either lands before it (they then find the job cancelled and change nothing;
a late result is erased by RecordResult) or finds the job finished and answers 409. Photos and
the record are kept until DELETE or the retention window, like any finished job's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from headshot.jobs import Job, JobError, JobStatus, utcnow
from headshot.usecases.access import not_found, owned_job, public_job
from headshot.usecases.notifications import Notify
from headshot.usecases.ports import JobStore, ObjectStorage, update
from headshot.webhooks import WebhookEventType

CANCELLED_BY_USER: Final = ("cancelled_by_user", "the job was cancelled by its owner")


def _cancel(job: Job, now: datetime) -> None:
    if not job.active:
        raise JobError("job_not_active", f"a job that is {job.status.value} cannot be cancelled")
    job.fail(JobStatus.CANCELLED, *CANCELLED_BY_USER, now)


@dataclass(frozen=True, slots=True)
class CancelJob:
    store: JobStore
    storage: ObjectStorage
    notify: Notify
    clock: Callable[[], datetime] = utcnow

    def __call__(self, owner_sub: str, job_id: str) -> dict[str, Any]:
        owned_job(self.store, owner_sub, job_id)
        outcome = update(self.store, job_id, lambda current: _cancel(current, self.clock()))
        if outcome is None:
            raise not_found()
        job = outcome[0]
        self.notify(job, WebhookEventType.JOB_CANCELLED)
        return public_job(job, self.storage, self.clock())
