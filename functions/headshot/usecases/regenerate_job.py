"""POST /v1/jobs/{id}/regenerate: a new round from the accepted photos, maybe in other styles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headshot.jobs import Job, JobError, JobStatus, utcnow, validate_styles
from headshot.usecases.access import not_found, owned_job, public_job
from headshot.usecases.ports import JobStore, ObjectStorage, update
from headshot.usecases.start_inference import StartInference


@dataclass(frozen=True, slots=True)
class Regeneration:
    """What changes for the new round; None keeps the job's current value."""

    styles: tuple[str, ...] | None = None
    variants: int | None = None


@dataclass(frozen=True, slots=True)
class RegenerateJob:
    store: JobStore
    storage: ObjectStorage
    start_inference: StartInference
    clock: Callable[[], datetime] = utcnow

    def __call__(self, owner_sub: str, job_id: str, request: Regeneration) -> dict[str, Any]:
        owned_job(self.store, owner_sub, job_id)
        if request.styles is not None:
            validate_styles(list(request.styles))

        def new_round(job: Job) -> None:
            if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) or not job.accepted_photos:
                raise JobError("not_regenerable", f"a job that is {job.status.value} cannot be regenerated")
            if request.styles is not None:
                job.styles = list(request.styles)
            if request.variants is not None:
                job.variants = request.variants
            job.start_round(self.clock())

        outcome = update(self.store, job_id, new_round)
        if outcome is None:
            raise not_found()
        return public_job(self.start_inference(outcome[0]), self.storage, self.clock())
