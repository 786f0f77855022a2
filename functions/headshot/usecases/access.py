"""Who may see a job (its owner: another user's job answers exactly like a missing one), and
what they see of it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from headshot.jobs import Job, JobError
from headshot.usecases.ports import JobStore, ObjectStorage
from headshot.views import job_view

RESULT_URL_LIFETIME: Final = timedelta(hours=1)


def not_found() -> JobError:
    return JobError("not_found", "no such job")


def plausible_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 64 and all(c.isalnum() or c in "_-" for c in job_id)


def owned_job(store: JobStore, owner_sub: str, job_id: str) -> Job:
    job = store.get(job_id) if plausible_id(job_id) else None
    if job is None or job.owner_sub != owner_sub:
        raise not_found()
    return job


def public_job(job: Job, storage: ObjectStorage, now: datetime) -> dict[str, Any]:
    """The job body with a short-lived download URL per result (keyed by object key: unique across rounds)."""
    urls = {r.key: storage.presign_get(r.key, now, RESULT_URL_LIFETIME) for r in job.results}
    return job_view(job, urls)
