"""DELETE /v1/jobs/{id}: every object of the job goes, the record stays without personal data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from headshot.jobs import Job, JobStatus, utcnow
from headshot.usecases.access import owned_job
from headshot.usecases.ports import JobStore, ObjectStorage, update


@dataclass(frozen=True, slots=True)
class DeleteJob:
    store: JobStore
    storage: ObjectStorage
    clock: Callable[[], datetime] = utcnow

    def __call__(self, owner_sub: str, job_id: str) -> None:
        job = owned_job(self.store, owner_sub, job_id)
        # Objects first: if erasure fails the record still points at them and DELETE can be retried.
        self.storage.erase_job(job.job_id, job.inference_object_keys())
        if job.status is JobStatus.DELETED:
            return

        def erase(current: Job) -> list[str]:
            keys = current.inference_object_keys()
            if current.status is not JobStatus.DELETED:
                current.erase_personal_data(self.clock())
            return keys

        outcome = update(self.store, job_id, erase)
        # Again once the record says deleted: an intake or a result that wrote between the first
        # erasure and the record's change sees `deleted` from now on, but what it wrote is here.
        self.storage.erase_job(job.job_id, outcome[1] if outcome else [])
