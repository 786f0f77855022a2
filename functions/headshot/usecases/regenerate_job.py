"""POST /v1/jobs/{id}/regenerate: a new round from the accepted photos, maybe in other styles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headshot.jobs import Job, JobError, JobStatus, utcnow, validate_styles
from headshot.usecases.access import not_found, owned_job, public_job
from headshot.usecases.ports import JobStore, ObjectStorage, update
from headshot.usecases.quota import ActiveJobQuota
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
    max_active_jobs: int = 5
    max_rounds: int = 5

    def __call__(self, owner_sub: str, job_id: str, request: Regeneration) -> dict[str, Any]:
        current = owned_job(self.store, owner_sub, job_id)
        if request.styles is not None:
            validate_styles(list(request.styles))
        if current.status is JobStatus.QUEUED and not current.inference_invoked:
            # Its round was never invoked (the endpoint refused it): start that one, not a new one.
            return public_job(self.start_inference(current), self.storage, self.clock())
        _check_regenerable(current, self.max_rounds)
        # A regenerated job is active again: it takes a place in the owner's quota like a new one.
        ActiveJobQuota(self.store, self.clock).reserve(owner_sub, job_id, self.max_active_jobs)

        def new_round(job: Job) -> None:
            _check_regenerable(job, self.max_rounds)
            if request.styles is not None:
                job.styles = list(request.styles)
            if request.variants is not None:
                job.variants = request.variants
            job.start_round(self.clock())

        outcome = update(self.store, job_id, new_round)
        if outcome is None:
            raise not_found()
        return public_job(self.start_inference(outcome[0]), self.storage, self.clock())


def _check_regenerable(job: Job, max_rounds: int) -> None:
    if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) or not job.accepted_photos:
        raise JobError("not_regenerable", f"a job that is {job.status.value} cannot be regenerated")
    # Each round adds to the record (DynamoDB items stop at 400 KB) and costs GPU time.
    if job.round >= max_rounds:
        raise JobError("round_limit_reached", f"a job may have at most {max_rounds} rounds")
