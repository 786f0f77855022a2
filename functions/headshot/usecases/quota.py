"""The owner's quota of active jobs, counted atomically.

A count over the by_owner index and then a create lets concurrent requests all pass the check
(the index is eventually consistent, and nothing serialises the creates). Instead each owner has
one reservations item, written only on the version it was read at: two concurrent creates (or
a create and a regeneration) conflict there, and the loser counts again. Reservations are never
released explicitly; a reservation whose job has since finished is dropped at the next count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from headshot.jobs import JobError, iso, utcnow
from headshot.usecases.ports import ConcurrentUpdate, JobStore

# A reservation whose job is not written yet (a create in flight) or not yet requeued (a
# regeneration in flight) still holds its place this long.
IN_FLIGHT: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ActiveJobQuota:
    store: JobStore
    clock: Callable[[], datetime] = utcnow

    def reserve(self, owner_sub: str, job_id: str, limit: int, attempts: int = 8) -> None:
        """Hold a place for `job_id` among the owner's active jobs, or raise too_many_active_jobs."""
        for _ in range(attempts):
            held, version = self.store.reservations(owner_sub)
            now = self.clock()
            kept = {other: at for other, at in held.items() if other != job_id and self._holds(other, at, now)}
            if len(kept) >= limit:
                raise JobError("too_many_active_jobs", f"at most {limit} jobs may be active")
            kept[job_id] = iso(now)
            try:
                self.store.save_reservations(owner_sub, kept, version)
            except ConcurrentUpdate:
                continue
            return
        raise ConcurrentUpdate(f"the quota of {owner_sub} kept changing during {attempts} attempts")

    def _holds(self, job_id: str, reserved_at: str, now: datetime) -> bool:
        job = self.store.get(job_id)
        if job is not None and job.active:
            return True
        in_flight = now - datetime.fromisoformat(reserved_at) < IN_FLIGHT
        # Not written yet, or not changed since it was reserved (a regeneration about to requeue it).
        return in_flight and (job is None or iso(job.updated_at) < reserved_at)
