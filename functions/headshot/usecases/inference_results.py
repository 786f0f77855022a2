"""An inference notification: the queued round completes or fails, once; late results of a
deleted job are erased. Duplicates, old rounds and unknown ids change nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from headshot.contract import S3Location
from headshot.jobs import Job, JobStatus, ResultImage, utcnow
from headshot.usecases.layout import results_prefix
from headshot.usecases.manifests import UNREADABLE_RESULT, failure_from_body, manifest_photos, result_images
from headshot.usecases.notifications import Notify
from headshot.usecases.ports import InferenceNotification, JobStore, ObjectMissing, ObjectStorage, update
from headshot.webhooks import WebhookEventType

NO_ACCEPTABLE_OUTPUT = ("no_acceptable_output", "no generated headshot passed the fidelity checks")


class ResultOutcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    IGNORED = "ignored"  # unknown inference id, an old round, or a duplicate notification


def parse_inference_id(inference_id: str) -> tuple[str, int] | None:
    """(job_id, round) of the ids StartInference gives: '{job_id}-r{round}'."""
    job_id, separator, round_text = inference_id.rpartition("-r")
    if not separator or not job_id or not round_text.isdigit():
        return None
    return job_id, int(round_text)


@dataclass(frozen=True, slots=True)
class RecordResult:
    store: JobStore
    storage: ObjectStorage
    notify: Notify
    clock: Callable[[], datetime] = utcnow

    def __call__(self, notification: InferenceNotification) -> tuple[ResultOutcome, Job | None]:
        # 1. Whose round this is.
        parsed = parse_inference_id(notification.inference_id)
        if parsed is None:
            return ResultOutcome.IGNORED, None
        job_id, round_number = parsed
        job = self.store.get(job_id)
        late = [self._own_key(loc) for loc in (notification.output_location, notification.failure_location)]
        late_keys = [key for key in late if key]
        if job is None or job.status is JobStatus.DELETED:
            # Inference finished after DELETE, or after the record's retention ended (TTL): what it
            # wrote must go too, nothing of the job stays.
            self.storage.erase_job(job_id, late_keys, prefixes=("results/",))
            return ResultOutcome.IGNORED, job
        if job.status in (JobStatus.EXPIRED, JobStatus.CANCELLED) and job.round == round_number:
            # The round the job expired waiting for, or its owner cancelled: nobody will see it, so
            # it is discarded and what it wrote erased (the photos stay until DELETE or retention).
            self.storage.erase_under(results_prefix(job_id, round_number), late_keys)
            return ResultOutcome.IGNORED, job
        if job is None or job.round != round_number or job.status is not JobStatus.QUEUED:
            return ResultOutcome.IGNORED, job
        # 2. What the container wrote: kept images, or its failure code.
        results, failure = self._read(notification, round_number, [p.photo_id for p in manifest_photos(job)])
        # 3. The job moves on, if the round is still the current one.
        outcome = update(
            self.store,
            job_id,
            lambda current: _record_on(current, notification, round_number, self.clock(), results, failure),
        )
        if outcome is None:
            return ResultOutcome.IGNORED, None
        job, result = outcome
        # 4. The client hears about it.
        if result is ResultOutcome.COMPLETED:
            self.notify(job, WebhookEventType.JOB_COMPLETED)
        elif result is ResultOutcome.FAILED:
            self.notify(job, WebhookEventType.JOB_FAILED)
        return result, job

    def _read(
        self, notification: InferenceNotification, round_number: int, photo_ids: list[str]
    ) -> tuple[list[ResultImage] | None, tuple[str, str] | None]:
        if notification.succeeded:
            key = self._own_key(notification.output_location)
            if key is None:
                return None, UNREADABLE_RESULT
            try:
                return result_images(self.storage.get_bytes(key), self.storage.bucket, round_number, photo_ids), None
            except ValueError:
                return None, UNREADABLE_RESULT
        key = self._own_key(notification.failure_location)
        body = None
        if key is not None:
            try:
                body = self.storage.get_bytes(key)
            except ObjectMissing:
                body = None
        return None, failure_from_body(body)

    def _own_key(self, location: str | None) -> str | None:
        """The key of an s3:// location in our bucket; anything else is not ours to read."""
        if not location:
            return None
        try:
            return S3Location.parse(location).key_in(self.storage.bucket)
        except ValueError:
            return None


def _record_on(job: Job, notification: InferenceNotification, round_number: int, now: datetime,
               results: list[ResultImage] | None, failure: tuple[str, str] | None) -> ResultOutcome:  # fmt: skip
    if job.round != round_number or job.status is not JobStatus.QUEUED:
        return ResultOutcome.IGNORED
    for location in (notification.output_location, notification.failure_location):
        if location and location not in job.inference_objects:
            job.inference_objects.append(location)
    if notification.output_location:
        job.output_location = notification.output_location
    if results:
        # Earlier rounds' images stay visible until the job is deleted; a round is recorded once.
        job.results = [r for r in job.results if r.round != round_number] + results
        job.transition(JobStatus.COMPLETED, now)
        return ResultOutcome.COMPLETED
    code, message = failure or NO_ACCEPTABLE_OUTPUT
    job.fail(JobStatus.FAILED, code, message, now)
    return ResultOutcome.FAILED
