"""The sweeper: no job stays non-terminal forever. Expires what can no longer finish on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from headshot.jobs import Job, JobStatus, utcnow
from headshot.settings import ControlPlaneSettings
from headshot.usecases.notifications import Notify
from headshot.usecases.ports import InferenceUnavailable, JobStore, StorageError, update
from headshot.usecases.start_inference import StartInference
from headshot.webhooks import WebhookEventType

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

    def __call__(self) -> list[tuple[str, str]]:
        """Returns the (job_id, error code) pairs it expired."""
        now = self.clock()
        expired = []
        for rule in rules(self.settings):
            for stale in self.store.stuck(rule.status, now - rule.age):
                if self._expire(stale, rule):
                    expired.append((stale.job_id, rule.code))
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

    def _expire(self, stale: Job, rule: Rule) -> bool:
        seen = stale.version

        def expire(current: Job) -> bool:
            # Only if nothing happened since we looked: a late event wins over the sweeper.
            if current.version != seen or current.status is not rule.status:
                return False
            current.fail(JobStatus.EXPIRED, rule.code, rule.message, self.clock())
            return True

        outcome = update(self.store, stale.job_id, expire)
        if outcome and outcome[1]:
            self.notify(outcome[0], WebhookEventType.JOB_EXPIRED)
            return True
        return False
