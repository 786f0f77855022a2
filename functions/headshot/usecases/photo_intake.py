"""An uploaded photo: check it, keep its normalised copy, settle the job when every photo is in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from headshot.jobs import Job, JobStatus, PhotoStatus, utcnow
from headshot.policy import assess_set
from headshot.reasons import Finding
from headshot.settings import PhotoLimits
from headshot.usecases.layout import photo_key, upload_key
from headshot.usecases.notifications import Notify
from headshot.usecases.ports import JobStore, ObjectStorage, PhotoChecker, update
from headshot.usecases.start_inference import StartInference
from headshot.webhooks import WebhookEventType

if TYPE_CHECKING:  # the image stack (Pillow, dlib) is loaded only by the validator function
    from headshot.checks import PhotoCheck


class UploadOutcome(StrEnum):
    RECORDED = "recorded"
    IGNORED = "ignored"  # duplicate or late event, unknown job/photo: nothing changes


@dataclass(frozen=True, slots=True)
class UploadResult:
    outcome: UploadOutcome
    accepted: bool | None = None
    reason_codes: tuple[str, ...] = ()
    check_ms: float | None = None
    job_status: JobStatus | None = None


def default_checker() -> PhotoChecker:
    from headshot.checks import PhotoChecker as RealChecker  # loads the face models: the validator only

    return RealChecker()


@dataclass
class RecordUpload:
    store: JobStore
    storage: ObjectStorage
    photo_limits: PhotoLimits
    start_inference: StartInference
    notify: Notify
    checker_factory: Callable[[], PhotoChecker] = default_checker
    clock: Callable[[], datetime] = utcnow
    _checker: PhotoChecker | None = field(default=None, init=False, repr=False)

    @property
    def checker(self) -> PhotoChecker:
        if self._checker is None:
            self._checker = self.checker_factory()
        return self._checker

    def __call__(self, job_id: str, photo_id: str) -> UploadResult:
        key = upload_key(job_id, photo_id)
        # 1. Only a pending photo of a job still receiving uploads is checked.
        job = self.store.get(job_id)
        photo = job.photo(photo_id) if job else None
        if job is None or photo is None or photo.status is not PhotoStatus.PENDING or not job.can_become_validating:
            # Unknown, duplicate or late: the original must not linger either way, nor a copy an
            # earlier attempt kept for a photo the record no longer points at (a DELETE raced it).
            leftovers = [key]
            if photo is None or job is None or job.status is JobStatus.DELETED or photo.key is None:
                leftovers.append(photo_key(job_id, photo_id))
            self.storage.delete(leftovers)
            if job is not None and job.status is JobStatus.QUEUED and not job.inference_invoked:
                # The redelivery of an event whose invocation failed: invoke the round again (same id).
                job = self.start_inference(job)
                return UploadResult(UploadOutcome.RECORDED, job_status=job.status)
            return UploadResult(UploadOutcome.IGNORED)
        # 2. The check; an accepted photo's normalised, EXIF-free copy is kept, the original never.
        check = self._check_upload(key, photo_id)
        kept_key = None
        if check.accepted and check.photo is not None and check.photo.normalised is not None:
            from headshot.photos import encode_jpeg

            kept_key = photo_key(job_id, photo_id)
            self.storage.put(kept_key, encode_jpeg(check.photo.normalised), "image/jpeg")
        self.storage.delete([key])

        # 3. The verdict on the job; the last photo in settles the set.
        def settle(current: Job) -> bool | None:
            # None: the job stopped receiving photos meanwhile (deleted, expired): nothing is written.
            if not current.can_become_validating:
                return None
            current_photo = current.photo(photo_id)
            if current_photo is None or current_photo.status is not PhotoStatus.PENDING:
                return False
            current_photo.settle(check.reasons, check.warnings)
            if check.face is not None and check.accepted:
                current_photo.embedding = check.face.embedding
                current_photo.chip_signature = check.face.chip_signature
                lab = check.face.skin_lab
                current_photo.skin_lab = (float(lab[0]), float(lab[1]), float(lab[2])) if lab is not None else None
                current_photo.eye_openness = check.face.mesh.openness if check.face.mesh is not None else None
            current_photo.key = kept_key
            now = self.clock()
            current.retain_from(now)  # the copy just written is kept RetentionDays from now
            if current.status is JobStatus.AWAITING_UPLOAD:
                current.transition(JobStatus.VALIDATING, now)
            if not current.all_photos_settled:
                return False
            _settle_set(current, now)
            return True

        outcome = update(self.store, job_id, settle)
        if outcome is None or outcome[1] is None:
            # A DELETE (or the sweeper) won the race: the copy kept above must not outlive it.
            if kept_key is not None:
                self.storage.delete([kept_key])
            return UploadResult(UploadOutcome.IGNORED)
        job, settled_now = outcome
        # 4. A settled set starts inference or is rejected with its webhook.
        if settled_now:
            job = self._after_settlement(job)
        return UploadResult(
            UploadOutcome.RECORDED,
            accepted=check.accepted,
            reason_codes=tuple(r.code.value for r in check.reasons),
            check_ms=check.metrics.get("check_ms"),
            job_status=job.status,
        )

    def _check_upload(self, key: str, name: str) -> PhotoCheck:
        """Size and type are re-checked here: S3's POST conditions are not trusted alone."""
        from headshot.checks import PhotoCheck
        from headshot.photos import PhotoError, check_byte_size

        try:
            check_byte_size(self.storage.head_size(key), self.photo_limits)
            data = self.storage.read_limited(key, self.photo_limits.max_bytes)
        except PhotoError as error:
            check = PhotoCheck(name, metrics={"error": error.detail})
            check.reject(Finding.rejection(error.reason))
            return check
        return self.checker.check_bytes(data, name, keep_normalised=True)

    def _after_settlement(self, job: Job) -> Job:
        rejected_copies = [p.key for p in job.photos if p.status is PhotoStatus.REJECTED and p.key]
        if rejected_copies:
            self.storage.delete(rejected_copies)
        if job.status is JobStatus.REJECTED:
            self.notify(job, WebhookEventType.JOB_REJECTED)
        elif job.status is JobStatus.QUEUED:
            return self.start_inference(job)
        return job


def _settle_set(job: Job, now: datetime) -> None:
    """Set-level rules (one person, no duplicates); no usable photo left rejects the job."""
    assessment = assess_set([p.evidence for p in job.photos])
    for index, finding in assessment.rejections.items():
        job.photos[index].reject(finding)
    if len(job.accepted_photos) == 0:
        summary = job.rejection_summary()
        job.fail(JobStatus.REJECTED, summary.code, summary.message, now)
    else:
        job.start_round(now)
