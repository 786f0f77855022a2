"""GET /v1/jobs/{id}: the owner's view of a job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headshot.jobs import utcnow
from headshot.usecases.access import owned_job, public_job
from headshot.usecases.ports import JobStore, ObjectStorage


@dataclass(frozen=True, slots=True)
class GetJob:
    store: JobStore
    storage: ObjectStorage
    clock: Callable[[], datetime] = utcnow

    def __call__(self, owner_sub: str, job_id: str) -> dict[str, Any]:
        return public_job(owned_job(self.store, owner_sub, job_id), self.storage, self.clock())
