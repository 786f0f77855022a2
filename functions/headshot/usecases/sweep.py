"""The sweeper: no job stays non-terminal forever. Expires what can no longer finish on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from headshot.jobs import Job, JobStatus, PhotoStatus, utcnow
from headshot.settings import ControlPlaneSettings
from headshot.usecases.layout import upload_key
from headshot.usecases.notifications import Notify
from headshot.usecases.ports import (
    InferenceUnavailable,
    JobStore,
    ObjectStorage,
    StorageError,
    update,
)
from headshot.usecases.start_inference import StartInference
from headshot.webhooks import WebhookEventType

# Pending photos whose uploads are in the bucket were the validator's to check, not the user's to send.
VALIDATION_TIMEOUT: Final = (
    "validation_timeout",
    "the photos arrived but could not be checked in time; please try again",
)

# A queued round not invoked this long after it was queued lost its invocation to an endpoint
# error; longer than an intake takes to invoke, so the sweeper does not race a first attempt.
INVOKE_RETRY_AFTER: Final = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Rule:
    status: JobStatus
    age: timedelta
    code: str
    message: str


def rules(settings: ControlPlaneSettings) -> tuple[Rule, ...]:
    grace = timedelta(seconds=settings.sweep_grace_s)
    window = timedelta(seconds=settings.upload_window_s)
    inference = timedelta(seconds=settings.inference_request_ttl_s + settings.inference_invocation_timeout_s)
    return (
        Rule(JobStatus.AWAITING_UPLOAD, window + grace, "uploads_not_received",
             "no photo was uploaded before the upload links expired"),
        Rule(JobStatus.VALIDATING, window + grace, "uploads_incomplete",
             "not every photo was uploaded before the upload links expired"),
        Rule(JobStatus.QUEUED, inference + grace, "inference_timeout",
             "the headshots were not ready in time; try regenerating the job"),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SweepJobs:
    settings: ControlPlaneSettings
    store: JobStore
    notify: Notify
    clock: Callable[[], datetime] = utcnow
    start_inference: StartInference | None = None
    storage: ObjectStorage | None = None

    def __call__(self) -> list[tuple[str, str]]:
        """Returns the (job_id, error code) pairs it expired."""
        now = self.clock()
        expired = []
        for rule in rules(self.settings):
            for stale in self.store.stuck(rule.status, now - rule.age):
                code = self._expire(stale, rule)
                if code is not None:
                    expired.append((stale.job_id, code))
        self._invoke_stranded(now)
        return expired

    def _invoke_stranded(self, now: datetime) -> None:
        """Rounds whose invocation failed (throttled, endpoint unreachable) are invoked again."""
        if self.start_inference is None:
            return
        for job in self.store.stuck(JobStatus.QUEUED, now - INVOKE_RETRY_AFTER):
            if job.inference_invoked:
                continue
            try:
                self.start_inference(job)
            except (InferenceUnavailable, StorageError):
                continue  # still down: the next run tries again, until the job's deadline expires it

    def _expire(self, stale: Job, rule: Rule) -> str | None:
        """The code the job was expired with, or None if it moved on meanwhile."""
        seen = stale.version
        code, message = VALIDATION_TIMEOUT if self._uploads_arrived(stale) else (rule.code, rule.message)

        def expire(current: Job) -> bool:
            # Only if nothing happened since we looked: a late event wins over the sweeper.
            if current.version != seen or current.status is not rule.status:
                return False
            current.fail(JobStatus.EXPIRED, code, message, self.clock())
            return True

        outcome = update(self.store, stale.job_id, expire)
        if outcome and outcome[1]:
            self.notify(outcome[0], WebhookEventType.JOB_EXPIRED)
            return code
        return None

    def _uploads_arrived(self, job: Job) -> bool:
        """Whether any photo still pending was uploaded (its upload event was never processed)."""
        if self.storage is None or job.status not in (JobStatus.AWAITING_UPLOAD, JobStatus.VALIDATING):
            return False
        for photo in job.photos:
            if photo.status is not PhotoStatus.PENDING:
                continue
            if self.storage.exists(upload_key(job.job_id, photo.photo_id)):
                return True
        return False
