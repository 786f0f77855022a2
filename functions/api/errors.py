"""HTTP status for every error code the API answers with (docs/openapi.yaml)."""

from __future__ import annotations

from typing import Final

from headshot.jobs import JobError

# Domain errors (JobError codes) and the request errors raised in this package.
STATUS: Final[dict[str, int]] = {
    "invalid_json": 400,
    "invalid_request": 400,
    "invalid_cursor": 400,
    "unauthorized": 401,
    "not_found": 404,
    "not_regenerable": 409,
    "no_webhook_event": 409,
    "round_limit_reached": 409,
    "job_not_active": 409,
    "request_in_progress": 409,
    "idempotency_key_reused": 422,
    "out_of_range": 422,
    "unknown_style": 422,
    "invalid_webhook_url": 422,
    "too_many_active_jobs": 429,
}

# Retry-After on every 429 of ours, in seconds: when trying again is worth it. An active job
# usually settles (uploads checked, a round generated) within about this long; it is a hint,
# not a promise (a job awaiting upload holds its place until its upload window closes).
RETRY_AFTER_S: Final = 30


def headers_of(status: int) -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)} if status == 429 else {}


class ApiError(JobError):
    """A JobError with the HTTP status it answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


def status_of(error: JobError) -> int:
    # A domain code the table does not know is a broken rule of ours, not the client's.
    return error.status if isinstance(error, ApiError) else STATUS.get(error.code, 500)
