"""Control-plane use cases: what the Lambda handlers call. No AWS types cross this boundary.

Every state change goes through `job_store.update` (conditional write, retried on conflict),
so duplicate and out-of-order events find the job already moved on and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from headshot.checks import PhotoCheck, PhotoChecker
from headshot.inference import InferenceClient, encode_manifest, request_manifest
from headshot.job_store import JobStore, update
from headshot.jobs import (
    STYLES,
    Job,
    JobError,
    JobStatus,
    PhotoStatus,
    utcnow,
    validate_styles,
)
from headshot.photos import PhotoError, check_byte_size, encode_jpeg
from headshot.policy import assess_set
from headshot.reasons import Finding
from headshot.settings import ControlPlaneSettings, PhotoLimits
from headshot.storage import (
    ObjectMissing,
    S3Storage,
    photo_key,
    request_key,
    results_prefix,
    upload_key,
)
from headshot.webhooks import WebhookEventType, WebhookPolicy, WebhookUrlError, validate_url

MAX_PHOTOS: Final = 20
MAX_VARIANTS: Final = 8
MAX_CLIENT_REFERENCE: Final = 128
RESULT_URL_LIFETIME: Final = timedelta(hours=1)
CREATE_FIELDS: Final = frozenset({"photo_count", "styles", "variants", "webhook_url", "client_reference"})
REGENERATE_FIELDS: Final = frozenset({"styles", "variants"})


class ApiError(JobError):
    """A JobError with the HTTP status it answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


def not_found() -> ApiError:
    # Another user's job answers exactly like a missing one.
    return ApiError(404, "not_found", "no such job")


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


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A message for the webhook queue. The sender renders the body from the job at send time."""

    job_id: str
    event_type: WebhookEventType
    event_id: str

    def to_message(self) -> str:
        return json.dumps({"job_id": self.job_id, "type": self.event_type.value, "event_id": self.event_id})


class WebhookQueue:
    """Where webhook requests go (an SQS adapter in production)."""

    def send(self, request: WebhookRequest) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def webhook_event_id(job: Job, event_type: WebhookEventType) -> str:
    # Stable across retries and duplicate enqueues of the same event.
    return f"evt_{job.job_id}_{event_type.value.removeprefix('job.')}_r{job.round}"


@dataclass
class ControlPlane:
    settings: ControlPlaneSettings
    store: JobStore
    storage: S3Storage
    photo_limits: PhotoLimits
    inference: InferenceClient | None = None
    webhooks: WebhookQueue | None = None
    checker_factory: Callable[[], PhotoChecker] | None = None
    clock: Callable[[], datetime] = utcnow
    _checker: PhotoChecker | None = field(default=None, init=False, repr=False)

    @property
    def webhook_policy(self) -> WebhookPolicy:
        return WebhookPolicy(self.settings.webhook_allowed_hosts, self.settings.webhook_allow_loopback_http)

    # ---- API --------------------------------------------------------------------------

    def create_job(self, owner_sub: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = _parse_create(body, self.webhook_policy)
        if self.store.count_active(owner_sub) >= self.settings.max_active_jobs_per_user:
            raise ApiError(
                429, "too_many_active_jobs", f"at most {self.settings.max_active_jobs_per_user} jobs may be active"
            )
        now = self.clock()
        window = timedelta(seconds=self.settings.upload_window_s)
        job = Job.create(
            owner_sub=owner_sub,
            now=now,
            retention=timedelta(days=self.settings.retention_days),
            upload_window=window,
            **request,
        )
        uploads = []
        for photo in job.photos:
            post = self.storage.presign_upload(
                upload_key(job.job_id, photo.photo_id), self.photo_limits.max_bytes, now, window
            )
            uploads.append(
                {"photo_id": photo.photo_id, "url": post.url, "fields": post.fields, "expires_at": post.expires_at}
            )
        self.store.create(job)
        return {
            "job_id": job.job_id,
            "status": job.status.value,
            "uploads": uploads,
            "expires_at": uploads[0]["expires_at"],
        }

    def get_job(self, owner_sub: str, job_id: str) -> dict[str, Any]:
        return self.public_view(self._owned(owner_sub, job_id))

    def public_view(self, job: Job) -> dict[str, Any]:
        now = self.clock()
        urls = {r.image_id: self.storage.presign_get(r.key, now, RESULT_URL_LIFETIME) for r in job.results}
        return job.to_public(urls)

    def delete_job(self, owner_sub: str, job_id: str) -> None:
        job = self._owned(owner_sub, job_id)
        extra = [key for key in (job.output_location_key(),) if key]
        # Objects first: if erasure fails the record still points at them and DELETE can be retried.
        self.storage.erase_job(job.job_id, extra)
        if job.status is JobStatus.DELETED:
            return

        def erase(current: Job) -> None:
            if current.status is not JobStatus.DELETED:
                current.erase_personal_data(self.clock())

        update(self.store, job_id, erase)

    def regenerate(self, owner_sub: str, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        _reject_unknown_fields(body, REGENERATE_FIELDS)
        self._owned(owner_sub, job_id)
        styles = _styles(body.get("styles")) if "styles" in body else None
        variants = _variants(body.get("variants")) if "variants" in body else None

        def new_round(job: Job) -> None:
            if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) or not job.accepted_photos:
                raise ApiError(409, "not_regenerable", f"a job that is {job.status.value} cannot be regenerated")
            if styles is not None:
                job.styles = styles
            if variants is not None:
                job.variants = variants
            job.start_round(self.clock())

        outcome = update(self.store, job_id, new_round)
        if outcome is None:
            raise not_found()
        job = self.invoke_round(outcome[0])
        return self.public_view(job)

    @staticmethod
    def styles() -> dict[str, Any]:
        return {
            "styles": [
                {"style_id": style_id, "name": name, "description": description}
                for style_id, (name, description) in STYLES.items()
            ]
        }

    def _owned(self, owner_sub: str, job_id: str) -> Job:
        job = self.store.get(job_id) if _plausible_id(job_id) else None
        if job is None or job.owner_sub != owner_sub:
            raise not_found()
        return job

    # ---- validator (on_upload) ------------------------------------------------------------

    @property
    def checker(self) -> PhotoChecker:
        if self._checker is None:
            self._checker = (self.checker_factory or PhotoChecker)()
        return self._checker

    def record_upload(self, job_id: str, photo_id: str) -> UploadResult:
        """Check one uploaded photo, keep its normalised copy, settle the job when all are in."""
        key = upload_key(job_id, photo_id)
        job = self.store.get(job_id)
        photo = job.photo(photo_id) if job else None
        if job is None or photo is None or photo.status is not PhotoStatus.PENDING or not job.can_become_validating:
            # Unknown, duplicate or late: the original must not linger either way.
            self.storage.delete([key])
            return UploadResult(UploadOutcome.IGNORED)
        check = self._check_upload(key, photo_id)
        kept_key = None
        if check.accepted and check.photo is not None and check.photo.normalised is not None:
            kept_key = photo_key(job_id, photo_id)
            self.storage.put(kept_key, encode_jpeg(check.photo.normalised), "image/jpeg")
        self.storage.delete([key])

        def settle(current: Job) -> bool:
            current_photo = current.photo(photo_id)
            if current_photo is None or current_photo.status is not PhotoStatus.PENDING:
                return False
            current_photo.settle(check.reasons, check.warnings)
            if check.face is not None and check.accepted:
                current_photo.embedding = check.face.embedding
                current_photo.chip_signature = check.face.chip_signature
                lab = check.face.skin_lab
                current_photo.skin_lab = (float(lab[0]), float(lab[1]), float(lab[2])) if lab is not None else None
            current_photo.key = kept_key
            now = self.clock()
            if current.status is JobStatus.AWAITING_UPLOAD:
                current.transition(JobStatus.VALIDATING, now)
            if not current.all_photos_settled:
                return False
            self._settle_set(current, now)
            return True

        outcome = update(self.store, job_id, settle)
        if outcome is None:
            return UploadResult(UploadOutcome.IGNORED)
        job, settled_now = outcome
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
        try:
            check_byte_size(self.storage.head_size(key), self.photo_limits)
            data = self.storage.read_limited(key, self.photo_limits.max_bytes)
        except PhotoError as error:
            check = PhotoCheck(name, metrics={"error": error.detail})
            check.reject(Finding.rejection(error.reason))
            return check
        return self.checker.check_bytes(data, name, keep_normalised=True)

    def _settle_set(self, job: Job, now: datetime) -> None:
        assessment = assess_set([p.evidence for p in job.photos])
        for index, finding in assessment.rejections.items():
            job.photos[index].reject(finding)
        if len(job.accepted_photos) == 0:
            summary = job.rejection_summary()
            job.fail(JobStatus.REJECTED, summary.code, summary.message, now)
        else:
            job.start_round(now)

    def _after_settlement(self, job: Job) -> Job:
        rejected_copies = [p.key for p in job.photos if p.status is PhotoStatus.REJECTED and p.key]
        if rejected_copies:
            self.storage.delete(rejected_copies)
        if job.status is JobStatus.REJECTED:
            self.enqueue_webhook(job, WebhookEventType.JOB_REJECTED)
        elif job.status is JobStatus.QUEUED:
            return self.invoke_round(job)
        return job

    def invoke_round(self, job: Job) -> Job:
        """Write the request manifest and invoke the endpoint once for this round."""
        if job.status is not JobStatus.QUEUED or job.inference_invoked or job.inference_id is None:
            return job
        inference = self.inference
        if inference is None:
            raise RuntimeError("this function has no inference client (SAGEMAKER_ENDPOINT_NAME)")
        bucket = self.storage.bucket
        uris = [f"s3://{bucket}/{p.key}" for p in job.accepted_photos if p.key]
        manifest = request_manifest(job, bucket, uris, results_prefix(job.job_id, job.round))
        key = request_key(job.job_id, job.round)
        self.storage.put(key, encode_manifest(manifest), "application/json")
        invocation = inference.invoke(f"s3://{bucket}/{key}", job.inference_id)
        expected_round = job.round

        def record(current: Job) -> None:
            if current.round == expected_round and current.status is JobStatus.QUEUED:
                current.inference_invoked = True
                current.output_location = invocation.output_location

        outcome = update(self.store, job.job_id, record)
        return outcome[0] if outcome else job

    # ---- webhooks -----------------------------------------------------------------------

    def enqueue_webhook(self, job: Job, event_type: WebhookEventType) -> None:
        if not job.webhook_url or self.webhooks is None:
            return
        self.webhooks.send(WebhookRequest(job.job_id, event_type, webhook_event_id(job, event_type)))


def _plausible_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 64 and all(c.isalnum() or c in "_-" for c in job_id)


def _reject_unknown_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field(s): {', '.join(unknown)}")


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, "invalid_request", f"{name} must be an integer from {low} to {high}")
    return value


def _variants(value: Any) -> int:
    return _integer(value, "variants", 1, MAX_VARIANTS)


def _styles(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise ApiError(400, "invalid_request", "styles must be a non-empty list of style ids")
    if len(set(value)) != len(value):
        raise ApiError(400, "invalid_request", "styles must not repeat")
    try:
        validate_styles(value)
    except JobError as error:
        raise ApiError(422, error.code, error.message) from None
    return list(value)


def _parse_create(body: Mapping[str, Any], policy: WebhookPolicy) -> dict[str, Any]:
    _reject_unknown_fields(body, CREATE_FIELDS)
    request: dict[str, Any] = {
        "photo_count": _integer(body.get("photo_count", 1), "photo_count", 1, MAX_PHOTOS),
        "styles": _styles(body.get("styles", ["studio_gray"])),
        "variants": _variants(body.get("variants", 4)),
        "webhook_url": None,
        "client_reference": None,
    }
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        try:
            validate_url(webhook_url, policy)
        except WebhookUrlError as error:
            raise ApiError(422, "invalid_webhook_url", str(error)) from None
        request["webhook_url"] = webhook_url
    reference = body.get("client_reference")
    if reference is not None:
        if not isinstance(reference, str) or len(reference) > MAX_CLIENT_REFERENCE:
            raise ApiError(
                400, "invalid_request", f"client_reference must be a string of at most {MAX_CLIENT_REFERENCE}"
            )
        request["client_reference"] = reference
    return request


__all__ = [
    "ApiError",
    "ControlPlane",
    "ObjectMissing",
    "UploadOutcome",
    "UploadResult",
    "WebhookQueue",
    "WebhookRequest",
]
