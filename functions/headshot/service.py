"""Control-plane use cases: what the Lambda handlers call. No AWS types cross this boundary.

Every state change goes through `job_store.update` (conditional write, retried on conflict),
so duplicate and out-of-order events find the job already moved on and change nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from headshot.inference import InferenceClient, encode_manifest, request_manifest
from headshot.job_store import JobStore, update
from headshot.jobs import (
    STYLES,
    Job,
    JobError,
    JobStatus,
    PhotoStatus,
    ResultImage,
    iso,
    utcnow,
    validate_styles,
)
from headshot.policy import assess_set
from headshot.reasons import Finding
from headshot.settings import ControlPlaneSettings, PhotoLimits
from headshot.storage import (
    ObjectMissing,
    S3Storage,
    photo_key,
    request_key,
    results_prefix,
    split_s3_uri,
    upload_key,
)

if TYPE_CHECKING:  # the image stack (Pillow, dlib) is loaded only by the validator function
    from headshot.checks import PhotoCheck, PhotoChecker

from headshot.webhooks import (
    DeliveryResult,
    WebhookEventType,
    WebhookPolicy,
    WebhookUrlError,
    build_event,
    deliver,
    retry_delay_seconds,
    validate_url,
)

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
    created_at: str

    def to_message(self) -> str:
        return json.dumps(
            {"job_id": self.job_id, "type": self.event_type.value, "event_id": self.event_id,
             "created_at": self.created_at}
        )  # fmt: skip

    @classmethod
    def from_message(cls, body: str) -> WebhookRequest:
        message = json.loads(body)
        return cls(
            str(message["job_id"]), WebhookEventType(message["type"]), str(message["event_id"]),
            str(message["created_at"]),
        )  # fmt: skip


class DeliveryState(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # recorded on the job; no more attempts help
    DROPPED = "dropped"  # the job is gone, deleted, or has no webhook


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    state: DeliveryState
    retry_after_s: int | None = None
    result: DeliveryResult | None = None


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
        extra = job.inference_object_keys()
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
            from headshot.checks import PhotoChecker

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
            from headshot.photos import encode_jpeg

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
                current_photo.eye_openness = check.face.mesh.openness if check.face.mesh is not None else None
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
            locations = [invocation.output_location, invocation.failure_location]
            current.inference_objects.extend(loc for loc in locations if loc and loc not in current.inference_objects)
            if current.round == expected_round and current.status is JobStatus.QUEUED:
                current.inference_invoked = True
                current.output_location = invocation.output_location

        outcome = update(self.store, job.job_id, record)
        return outcome[0] if outcome else job

    # ---- inference results (on_result) -------------------------------------------------------

    def record_result(self, notification: InferenceNotification) -> tuple[ResultOutcome, Job | None]:
        """Apply a SageMaker notification; duplicates, old rounds and unknown ids change nothing."""
        parsed = parse_inference_id(notification.inference_id)
        if parsed is None:
            return ResultOutcome.IGNORED, None
        job_id, round_number = parsed
        job = self.store.get(job_id)
        if job is not None and job.status is JobStatus.DELETED:
            # Inference finished after DELETE: what it wrote must go too, nothing of the job stays.
            late = [notification.output_location, notification.failure_location]
            keys = [key for key in (self._own_key_or_none(loc) for loc in late) if key]
            self.storage.erase_job(job_id, keys, prefixes=("results/",))
            return ResultOutcome.IGNORED, job
        if job is None or job.round != round_number or job.status is not JobStatus.QUEUED:
            return ResultOutcome.IGNORED, job
        results: list[ResultImage] | None = None
        failure: tuple[str, str] | None = None
        if notification.succeeded:
            try:
                manifest = json.loads(self.storage.get_bytes(self._own_key(notification.output_location)))
                results = _result_images(manifest, self.storage.bucket)
            except (ValueError, KeyError, TypeError):
                failure = ("invalid_result", "the inference result could not be read; try regenerating the job")
        else:
            payload = None
            if notification.failure_location:
                try:
                    payload = self.storage.get_bytes(self._own_key(notification.failure_location))
                except (ObjectMissing, ValueError):
                    payload = None
            failure = _failure_from_object(payload, notification.failure_reason)

        outcome = update(
            self.store,
            job_id,
            lambda current: _record_result_on(current, notification, round_number, self.clock(), results, failure),
        )
        if outcome is None:
            return ResultOutcome.IGNORED, None
        job, result = outcome
        if result is ResultOutcome.COMPLETED:
            self.enqueue_webhook(job, WebhookEventType.JOB_COMPLETED)
        elif result is ResultOutcome.FAILED:
            self.enqueue_webhook(job, WebhookEventType.JOB_FAILED)
        return result, job

    def _own_key_or_none(self, location: str | None) -> str | None:
        try:
            return self._own_key(location)
        except ValueError:
            return None

    def _own_key(self, location: str | None) -> str:
        """The key of an s3:// location in our bucket; anything else is not ours to read."""
        if not location:
            raise ValueError("no location")
        bucket, key = split_s3_uri(location)
        if bucket != self.storage.bucket:
            raise ValueError("location outside the data bucket")
        return key

    # ---- sweeper ----------------------------------------------------------------------------

    def sweep(self) -> list[tuple[str, str]]:
        """Expire jobs that can no longer finish on their own; returns (job_id, error code) pairs."""
        now = self.clock()
        grace = timedelta(seconds=self.settings.sweep_grace_s)
        window = timedelta(seconds=self.settings.upload_window_s)
        inference_deadline = timedelta(
            seconds=self.settings.inference_request_ttl_s + self.settings.inference_invocation_timeout_s
        )
        rules = (
            (JobStatus.AWAITING_UPLOAD, window + grace, "uploads_not_received",
             "no photo was uploaded before the upload links expired"),
            (JobStatus.VALIDATING, window + grace, "uploads_incomplete",
             "not every photo was uploaded before the upload links expired"),
            (JobStatus.QUEUED, inference_deadline + grace, "inference_timeout",
             "the headshots were not ready in time; try regenerating the job"),
        )  # fmt: skip
        expired = []
        for status, age, code, message in rules:
            for stale in self.store.stuck(status, now - age):
                seen_version = stale.version

                def expire(current: Job, seen: int | None = seen_version, status: JobStatus = status,
                           code: str = code, message: str = message) -> bool:  # fmt: skip
                    # Only if nothing happened since we looked: a late event wins over the sweeper.
                    if current.version != seen or current.status is not status:
                        return False
                    current.fail(JobStatus.EXPIRED, code, message, self.clock())
                    return True

                outcome = update(self.store, stale.job_id, expire)
                if outcome and outcome[1]:
                    self.enqueue_webhook(outcome[0], WebhookEventType.JOB_EXPIRED)
                    expired.append((stale.job_id, code))
        return expired

    # ---- webhooks -----------------------------------------------------------------------

    def enqueue_webhook(self, job: Job, event_type: WebhookEventType) -> None:
        if not job.webhook_url or self.webhooks is None:
            return
        self.webhooks.send(WebhookRequest(job.job_id, event_type, webhook_event_id(job, event_type), iso(self.clock())))

    def deliver_webhook(self, request: WebhookRequest, attempt: int, secret: bytes) -> DeliveryOutcome:
        """One delivery attempt; the caller turns RETRY into a delayed redelivery of the message."""
        job = self.store.get(request.job_id)
        if job is None or not job.webhook_url or job.status is JobStatus.DELETED:
            return DeliveryOutcome(DeliveryState.DROPPED)
        if job.deliveries.get(request.event_id, {}).get("status") == "delivered":
            return DeliveryOutcome(DeliveryState.DELIVERED)
        now = self.clock()
        body, headers = build_event(
            request.event_id,
            request.event_type,
            self.public_view(job),
            request.created_at,
            secret=secret,
            timestamp=int(now.timestamp()),
        )
        result = deliver(job.webhook_url, body, headers, self.webhook_policy)
        final = result.ok or not result.retryable or attempt >= self.settings.webhook_max_attempts
        if not final:
            delay = retry_delay_seconds(attempt, base=self.settings.webhook_retry_base_s, jitter=random.Random())
            return DeliveryOutcome(DeliveryState.RETRY, delay, result)
        record = {
            "type": request.event_type.value,
            "status": "delivered" if result.ok else "failed",
            "attempts": attempt,
            "http_status": result.status,
            "error_code": result.error_code,
            "at": iso(now),
        }

        def note(current: Job) -> None:
            current.deliveries[request.event_id] = record

        update(self.store, request.job_id, note)
        return DeliveryOutcome(DeliveryState.DELIVERED if result.ok else DeliveryState.FAILED, None, result)


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


# ---- inference results (on_result) ------------------------------------------------------


class ResultOutcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    IGNORED = "ignored"  # unknown inference id, an old round, or a duplicate notification


@dataclass(frozen=True, slots=True)
class InferenceNotification:
    """The fields of SageMaker's async notification we rely on, parsed defensively."""

    inference_id: str
    succeeded: bool
    output_location: str | None
    failure_location: str | None
    failure_reason: str | None

    @classmethod
    def parse(cls, body: str) -> InferenceNotification | None:
        """From an SQS body: an SNS envelope (raw delivery off) or the bare notification."""
        try:
            message = json.loads(body)
            if isinstance(message, dict) and isinstance(message.get("Message"), str) and "TopicArn" in message:
                message = json.loads(message["Message"])
        except (ValueError, TypeError):
            return None
        if not isinstance(message, dict):
            return None
        inference_id = message.get("inferenceId")
        status = message.get("invocationStatus")
        if not isinstance(inference_id, str) or status not in ("Completed", "Failed"):
            return None
        response = message.get("responseParameters")
        response = response if isinstance(response, dict) else {}
        output = response.get("outputLocation")
        failure = response.get("failureLocation") or message.get("failureLocation")
        reason = message.get("failureReason")
        return cls(
            inference_id=inference_id,
            succeeded=status == "Completed",
            output_location=output if isinstance(output, str) else None,
            failure_location=failure if isinstance(failure, str) else None,
            failure_reason=reason if isinstance(reason, str) else None,
        )


def parse_inference_id(inference_id: str) -> tuple[str, int] | None:
    job_id, separator, round_text = inference_id.rpartition("-r")
    if not separator or not job_id or not round_text.isdigit():
        return None
    return job_id, int(round_text)


def _result_images(manifest: Any, bucket: str) -> list[ResultImage]:
    """Kept images of a result manifest (DESIGN.md §6); keys may be bucket keys or s3:// URIs."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("images"), list):
        raise ValueError("result manifest has no images list")
    kept = []
    for image in manifest["images"]:
        if not isinstance(image, dict) or image.get("kept") is not True:
            continue
        key = str(image["key"])
        if key.startswith("s3://"):
            image_bucket, _, key = key[5:].partition("/")
            if image_bucket != bucket:
                raise ValueError("result image outside the data bucket")
        kept.append(
            ResultImage(
                image_id=str(image["image_id"]),
                style=str(image.get("style", "")),
                key=key,
                seed=int(image.get("seed", 0)),
                fidelity=dict(image.get("fidelity") or {}),
            )
        )
    return kept


def _failure_from_object(payload: bytes | None, reason: str | None) -> tuple[str, str]:
    """The container's own error code when its failure body says one, else a generic failure."""
    if payload:
        try:
            error = json.loads(payload).get("error", {})
            code, message = error.get("code"), error.get("message")
            if isinstance(code, str) and isinstance(message, str):
                return code, message
        except (ValueError, AttributeError):
            pass
    # SageMaker's failureReason is operator-facing; clients get a stable code and a plain message.
    del reason
    return "inference_failed", "generating the headshots failed; try regenerating the job"


def _record_result_on(job: Job, notification: InferenceNotification, round_number: int, now: datetime,
                      results: list[ResultImage] | None, failure: tuple[str, str] | None) -> ResultOutcome:  # fmt: skip
    if job.round != round_number or job.status is not JobStatus.QUEUED:
        return ResultOutcome.IGNORED
    for location in (notification.output_location, notification.failure_location):
        if location and location not in job.inference_objects:
            job.inference_objects.append(location)
    if notification.output_location:
        job.output_location = notification.output_location
    if results:
        job.results = results
        job.transition(JobStatus.COMPLETED, now)
        return ResultOutcome.COMPLETED
    code, message = failure or ("no_acceptable_output", "no generated headshot passed the fidelity checks")
    job.fail(JobStatus.FAILED, code, message, now)
    return ResultOutcome.FAILED


__all__ = [
    "ApiError",
    "ControlPlane",
    "DeliveryOutcome",
    "DeliveryState",
    "InferenceNotification",
    "ObjectMissing",
    "ResultOutcome",
    "UploadOutcome",
    "UploadResult",
    "WebhookQueue",
    "WebhookRequest",
]
