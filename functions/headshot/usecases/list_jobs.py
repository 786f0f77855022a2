"""GET /v1/jobs: the caller's jobs, newest first, a page at a time (the by_owner index).

The cursor is opaque to clients: base64url of where the last page ended, bound to the caller.
The query only ever reads the caller's own partition, so no cursor can show another owner's
jobs; one made for someone else (or altered) is refused rather than silently misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from headshot.jobs import Job, JobError, iso, utcnow
from headshot.usecases.access import plausible_id, public_job
from headshot.usecases.ports import JobStore, ObjectStorage, OwnerPosition

DEFAULT_PAGE: Final = 20
MAX_PAGE: Final = 100


def _owner_tag(owner_sub: str) -> str:
    # Binds a cursor to its caller without putting their subject in it.
    return hashlib.sha256(owner_sub.encode()).hexdigest()[:16]


def encode_cursor(owner_sub: str, job: Job) -> str:
    position = {"c": iso(job.created_at), "j": job.job_id, "o": _owner_tag(owner_sub)}
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(owner_sub: str, cursor: str) -> OwnerPosition:
    invalid = JobError("invalid_cursor", "cursor: not a cursor this caller got from GET /v1/jobs")
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid from None
    if not isinstance(position, dict) or set(position) != {"c", "j", "o"}:
        raise invalid
    created_at, job_id, tag = position["c"], position["j"], position["o"]
    if not all(isinstance(value, str) for value in (created_at, job_id, tag)):
        raise invalid
    if tag != _owner_tag(owner_sub) or not plausible_id(job_id):
        raise invalid
    try:
        datetime.fromisoformat(created_at)
    except ValueError:
        raise invalid from None
    return OwnerPosition(created_at, job_id)


@dataclass(frozen=True, slots=True)
class ListJobs:
    store: JobStore
    storage: ObjectStorage
    clock: Callable[[], datetime] = utcnow

    def __call__(self, owner_sub: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> dict[str, Any]:
        if not 1 <= limit <= MAX_PAGE:
            raise JobError("out_of_range", f"limit: must be 1 to {MAX_PAGE}")
        after = None if cursor is None else decode_cursor(owner_sub, cursor)
        # One more than the page: a next cursor only when there is a next page.
        jobs = self.store.list_by_owner(owner_sub, limit + 1, after)
        page = jobs[:limit]
        now = self.clock()
        return {
            "jobs": [public_job(job, self.storage, now) for job in page],
            "next_cursor": encode_cursor(owner_sub, page[-1]) if len(jobs) > limit else None,
        }
