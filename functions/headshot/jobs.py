"""Jobs: the domain object and its forward-only status machine (the public view is `headshot.views`).

Storage lives in `headshot.job_store` (PynamoDB); every change there is a conditional write
on the version this object was read at, so the rules below hold under concurrency:
duplicate and out-of-order events find the job already moved on and change nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import numpy as np

from headshot.contract import S3Location, unknown_styles
from headshot.policy import IdentityEvidence
from headshot.reasons import Finding, Reason


class JobStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    VALIDATING = "validating"
    QUEUED = "queued"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    # Stopped by its owner (POST /v1/jobs/{id}/cancel) before it finished.
    CANCELLED = "cancelled"
    DELETED = "deleted"


class PhotoStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


ACTIVE: Final = frozenset({JobStatus.AWAITING_UPLOAD, JobStatus.VALIDATING, JobStatus.QUEUED})
# Forward only. COMPLETED/FAILED -> QUEUED is a regeneration: a new round, never a step back.
TRANSITIONS: Final[dict[JobStatus, frozenset[JobStatus]]] = {
    JobStatus.AWAITING_UPLOAD: frozenset(
        {JobStatus.VALIDATING, JobStatus.REJECTED, JobStatus.EXPIRED, JobStatus.CANCELLED, JobStatus.DELETED}
    ),
    JobStatus.VALIDATING: frozenset(
        {JobStatus.QUEUED, JobStatus.REJECTED, JobStatus.EXPIRED, JobStatus.CANCELLED, JobStatus.DELETED}
    ),
    JobStatus.QUEUED: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED, JobStatus.DELETED}
    ),
    JobStatus.COMPLETED: frozenset({JobStatus.QUEUED, JobStatus.DELETED}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.DELETED}),
    JobStatus.REJECTED: frozenset({JobStatus.DELETED}),
    JobStatus.EXPIRED: frozenset({JobStatus.DELETED}),
    JobStatus.CANCELLED: frozenset({JobStatus.DELETED}),
    JobStatus.DELETED: frozenset(),
}
MIN_ACCEPTED_PHOTOS: Final = 1


class JobError(Exception):
    """A domain rule was broken; `code` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidTransition(JobError):  # noqa: N818 - reads as the domain term
    def __init__(self, current: JobStatus, wanted: JobStatus) -> None:
        super().__init__("invalid_transition", f"a job that is {current.value} cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    """Opaque, unguessable ids (also used in S3 keys the server chooses)."""
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(slots=True)
class Photo:
    photo_id: str
    index: int
    status: PhotoStatus = PhotoStatus.PENDING
    reasons: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    # Biometric evidence, kept only while the job lives (erased on DELETE and by TTL).
    embedding: np.ndarray | None = None
    chip_signature: np.ndarray | None = None
    skin_lab: tuple[float, float, float] | None = None
    eye_openness: float | None = None
    # The normalised, EXIF-free copy (photos/ prefix) once accepted.
    key: str | None = None

    @property
    def evidence(self) -> IdentityEvidence | None:
        if self.status is not PhotoStatus.ACCEPTED or self.embedding is None or self.chip_signature is None:
            return None
        return IdentityEvidence(self.embedding, self.chip_signature, self.eye_openness)

    def settle(self, reasons: list[Finding], warnings: list[Finding]) -> None:
        self.reasons, self.warnings = list(reasons), list(warnings)
        self.status = PhotoStatus.REJECTED if reasons else PhotoStatus.ACCEPTED

    def reject(self, finding: Finding) -> None:
        if all(r.code != finding.code for r in self.reasons):
            self.reasons.append(finding)
        self.status = PhotoStatus.REJECTED


@dataclass(slots=True)
class ResultImage:
    image_id: str  # unique within its round (the container names it style-variant)
    style: str
    key: str
    seed: int
    fidelity: dict[str, Any]
    round: int = 1
    variant: int = 0
    source_photo_id: str | None = None  # the accepted photo it was made from; None: from all of them


@dataclass(slots=True)
class Failure:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(slots=True)
class Job:
    job_id: str
    owner_sub: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    # When DynamoDB's TTL may delete the record (the retention window).
    expires_at: datetime
    # Presigned uploads stop working at this time; the sweeper expires jobs still waiting.
    upload_expires_at: datetime
    styles: list[str]
    variants: int
    photos: list[Photo]
    webhook_url: str | None = None
    client_reference: str | None = None
    round: int = 0
    inference_id: str | None = None
    inference_invoked: bool = False
    output_location: str | None = None
    # Every object SageMaker may write for any round (output and failure locations): erased on DELETE.
    inference_objects: list[str] = field(default_factory=list)
    results: list[ResultImage] = field(default_factory=list)
    error: Failure | None = None
    # (status, ISO time) of every transition: the job's timeline.
    history: list[tuple[str, str]] = field(default_factory=list)
    # Webhook deliveries by event id: type, status (delivered|failed), attempts, http_status, error_code, at.
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The retention window: `expires_at` is at least this long after the job's last change, so the
    # record (and with it the erasure of its objects) outlives every object a round writes.
    retention_s: int = 0
    # Optimistic-locking version of the stored record (None before the first write).
    version: int | None = None

    @classmethod
    def create(
        cls,
        *,
        owner_sub: str,
        photo_count: int,
        styles: list[str],
        variants: int,
        now: datetime,
        retention: timedelta,
        upload_window: timedelta,
        webhook_url: str | None = None,
        client_reference: str | None = None,
    ) -> Job:
        photos = [Photo(new_id("ph"), index) for index in range(photo_count)]
        return cls(
            job_id=new_id("job"),
            owner_sub=owner_sub,
            status=JobStatus.AWAITING_UPLOAD,
            created_at=now,
            updated_at=now,
            expires_at=now + retention,
            upload_expires_at=now + upload_window,
            styles=list(styles),
            variants=variants,
            photos=photos,
            webhook_url=webhook_url,
            client_reference=client_reference,
            history=[(JobStatus.AWAITING_UPLOAD.value, iso(now))],
            retention_s=int(retention.total_seconds()),
        )

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def photo(self, photo_id: str) -> Photo | None:
        return next((p for p in self.photos if p.photo_id == photo_id), None)

    @property
    def all_photos_settled(self) -> bool:
        return all(p.status is not PhotoStatus.PENDING for p in self.photos)

    @property
    def accepted_photos(self) -> list[Photo]:
        return [p for p in self.photos if p.status is PhotoStatus.ACCEPTED]

    @property
    def can_become_validating(self) -> bool:
        """Photos are still being received (uploads may arrive while others are checked)."""
        return self.status in (JobStatus.AWAITING_UPLOAD, JobStatus.VALIDATING)

    def inference_object_keys(self) -> list[str]:
        """S3 keys of SageMaker's output and failure objects for every round."""
        locations = {*self.inference_objects, *([self.output_location] if self.output_location else [])}
        keys = set()
        for location in locations:
            try:
                keys.add(S3Location.parse(location).key)
            except ValueError:
                continue  # not an object URI: nothing to erase
        return sorted(keys)

    def can_become(self, status: JobStatus) -> bool:
        return status in TRANSITIONS[self.status]

    def transition(self, status: JobStatus, now: datetime) -> None:
        if not self.can_become(status):
            raise InvalidTransition(self.status, status)
        self.status = status
        self.updated_at = now
        self.history.append((status.value, iso(now)))
        self.retain_from(now)

    def retain_from(self, now: datetime) -> None:
        """Something of the job was written at `now`: keep the record RetentionDays from then."""
        self.expires_at = max(self.expires_at, now + timedelta(seconds=self.retention_s))

    def start_round(self, now: datetime) -> None:
        """Queue a new inference round (first one, or a regeneration)."""
        self.transition(JobStatus.QUEUED, now)
        self.round += 1
        self.inference_id = f"{self.job_id}-r{self.round}"
        self.inference_invoked = False
        self.output_location = None
        self.error = None

    def fail(self, status: JobStatus, code: str, message: str, now: datetime) -> None:
        self.transition(status, now)
        self.error = Failure(code, message)

    def erase_personal_data(self, now: datetime) -> None:
        """DELETE: the record stays (so the id answers 'deleted') but holds nothing personal."""
        self.transition(JobStatus.DELETED, now)
        for photo in self.photos:
            photo.embedding = photo.chip_signature = None
            photo.skin_lab = photo.eye_openness = None
            photo.key = None
        self.results = []
        self.webhook_url = None
        self.client_reference = None
        self.output_location = None
        self.inference_objects = []

    def rejection_summary(self) -> Failure:
        codes = sorted({r.code.value for p in self.photos for r in p.reasons})
        return Failure("photos_rejected", f"not enough usable photos; reasons: {', '.join(codes) or 'none'}")


def validate_styles(styles: list[str]) -> None:
    unknown = unknown_styles(styles)
    if unknown:
        raise JobError("unknown_style", f"unknown style(s): {', '.join(unknown)}; see GET /v1/styles")


def reason(code: str) -> Finding:
    return Finding.rejection(Reason(code))
