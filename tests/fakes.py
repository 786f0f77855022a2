"""In-memory ports for fast use-case tests: a job store with version conflicts, an object store,
an inference client, a webhook queue and a photo checker, plus a Lambda context and a clock.

They keep the adapters' contracts (a stale write is refused, a missing object raises
ObjectMissing) so a use case behaves on them as it does on moto or AWS.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from PIL import Image

from headshot.jobs import ACTIVE, Job, JobStatus, iso
from headshot.reasons import Finding, Reason
from headshot.settings import ControlPlaneSettings, PhotoLimits
from headshot.usecases.layout import JOB_PREFIXES
from headshot.usecases.notifications import WebhookRequest
from headshot.usecases.ports import (
    ConcurrentUpdate,
    InferenceUnavailable,
    Invocation,
    ObjectMissing,
    OwnerPosition,
    PresignedUpload,
)
from headshot.webhooks import DeliveryResult
from headshot.wiring import ControlPlane, build_control_plane

BUCKET = "headshot-data-test"


class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name = "HeadshotFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:HeadshotFunction"
    aws_request_id = "req-test"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 5, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class InMemoryJobStore:
    """JobStore with DynamoDB's optimistic locking: a write on an old version raises ConcurrentUpdate.

    `interfere` runs once before the next write, as another writer would, to test retries.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.writes = 0
        self.interfere: Callable[[InMemoryJobStore], None] | None = None
        self.quotas: dict[str, tuple[dict[str, str], int]] = {}

    def create(self, job: Job) -> None:
        self._interfere()
        if job.job_id in self.jobs:
            raise ConcurrentUpdate("exists")
        job.version = 1
        self.jobs[job.job_id] = copy.deepcopy(job)
        self.writes += 1

    def get(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        return copy.deepcopy(job) if job is not None else None

    def save(self, job: Job) -> None:
        self._interfere()
        stored = self.jobs.get(job.job_id)
        if stored is None or stored.version != job.version:
            raise ConcurrentUpdate("conditional write failed")
        job.version = (job.version or 0) + 1
        self.jobs[job.job_id] = copy.deepcopy(job)
        self.writes += 1

    def count_active(self, owner_sub: str) -> int:
        return sum(1 for job in self.jobs.values() if job.owner_sub == owner_sub and job.status in ACTIVE)

    def list_by_owner(self, owner_sub: str, limit: int, after: OwnerPosition | None) -> list[Job]:
        # The by_owner index's order: created_at descending, the table key breaking ties.
        def position(job: Job) -> tuple[str, str]:
            return iso(job.created_at), job.job_id

        owned = sorted((j for j in self.jobs.values() if j.owner_sub == owner_sub), key=position, reverse=True)
        if after is not None:
            owned = [j for j in owned if position(j) < (after.created_at, after.job_id)]
        return [copy.deepcopy(job) for job in owned[:limit]]

    def reservations(self, owner_sub: str) -> tuple[dict[str, str], int | None]:
        held, version = self.quotas.get(owner_sub, ({}, None))
        return dict(held), version

    def save_reservations(self, owner_sub: str, reservations: dict[str, str], version: int | None) -> None:
        self._interfere()
        if self.quotas.get(owner_sub, ({}, None))[1] != version:
            raise ConcurrentUpdate("conditional write failed")
        self.quotas[owner_sub] = (dict(reservations), (version or 0) + 1)

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def remove_reservations(self, owner_sub: str) -> None:
        self.quotas.pop(owner_sub, None)

    def _interfere(self) -> None:
        if self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere(self)

    def stuck(self, status: JobStatus, before: datetime) -> Iterator[Job]:
        for job in list(self.jobs.values()):
            if job.status is status and iso(job.updated_at) < iso(before):
                yield copy.deepcopy(job)

    def put(self, job: Job) -> Job:
        """Store a job as a test arranged it (any status), bypassing the use cases."""
        job.version = (self.jobs[job.job_id].version or 0) + 1 if job.job_id in self.jobs else 1
        self.jobs[job.job_id] = copy.deepcopy(job)
        return job


@dataclass
class StoredObject:
    body: bytes
    content_type: str


class InMemoryStorage:
    """ObjectStorage on a dict; presigned URLs are recognisable strings, not signatures."""

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self.objects: dict[str, StoredObject] = {}

    def presign_upload(self, key: str, max_bytes: int, now: datetime, expires_in: timedelta) -> PresignedUpload:
        fields = {"key": key, "Content-Type": "image/jpeg", "x-max-bytes": str(max_bytes)}  # as S3Storage's recipe
        return PresignedUpload(f"https://{self.bucket}.s3.test/", fields, iso(now + expires_in))

    def presign_get(self, key: str, now: datetime, expires_in: timedelta) -> tuple[str, str]:
        return f"https://{self.bucket}.s3.test/{key}?signed", iso(now + expires_in)

    def head_size(self, key: str) -> int:
        return len(self._get(key).body)

    def read_limited(self, key: str, max_bytes: int) -> bytes:
        return self._get(key).body[: max_bytes + 1]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def get_bytes(self, key: str) -> bytes:
        return self._get(key).body

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.objects[key] = StoredObject(body, content_type)

    def delete(self, keys: list[str]) -> int:
        for key in keys:
            self.objects.pop(key, None)
        return len(keys)

    def erase_job(self, job_id: str, extra_keys: list[str], prefixes: tuple[str, ...] = JOB_PREFIXES) -> int:
        under = tuple(f"{p}{job_id}/" for p in prefixes)
        return self.delete(list(extra_keys) + [k for k in self.objects if k.startswith(under)])

    def erase_under(self, prefix: str, extra_keys: list[str]) -> int:
        return self.delete(list(extra_keys) + [k for k in self.objects if k.startswith(prefix)])

    def listing(self, pattern: str = "*") -> list[str]:
        return sorted(k for k in self.objects if fnmatch.fnmatch(k, pattern))

    def _get(self, key: str) -> StoredObject:
        if key not in self.objects:
            raise ObjectMissing(key)
        return self.objects[key]


class RecordingInference:
    """InferenceClient that records each invocation and answers as SageMaker does."""

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self.calls: list[tuple[str, str]] = []
        # How many of the next invocations fail as a throttled or unreachable endpoint does.
        self.failures = 0

    def invoke(self, input_location: str, inference_id: str) -> Invocation:
        self.calls.append((input_location, inference_id))
        if self.failures > 0:
            self.failures -= 1
            raise InferenceUnavailable("ThrottlingException")
        return Invocation(
            inference_id,
            f"s3://{self.bucket}/async-output/{inference_id}.out",
            f"s3://{self.bucket}/async-failure/{inference_id}-error.out",
        )


class RecordingWebhookQueue:
    def __init__(self) -> None:
        self.sent: list[WebhookRequest] = []

    def send(self, request: WebhookRequest) -> None:
        self.sent.append(request)

    @property
    def types(self) -> list[str]:
        return [request.event_type.value for request in self.sent]


@dataclass
class ScriptedReceiver:
    """A webhook endpoint as `deliver` sees it: one scripted result per attempt, every call kept."""

    results: list[DeliveryResult] = field(default_factory=list)
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, target_url: str, body: bytes, headers: Mapping[str, str], policy: Any) -> DeliveryResult:
        self.calls.append((target_url, body, dict(headers)))
        return self.results.pop(0) if self.results else DeliveryResult(True, 200, None, False, 1)


def delivered(status: int = 200) -> DeliveryResult:
    return DeliveryResult(True, status, None, False, 1)


def failed(status: int, retryable: bool) -> DeliveryResult:
    return DeliveryResult(False, status, "http_status", retryable, 1)


def settings(**env: str) -> ControlPlaneSettings:
    base = {"JOBS_TABLE": "headshot-jobs-test", "DATA_BUCKET": BUCKET, "MAX_ACTIVE_JOBS_PER_USER": "2",
            "WEBHOOK_ALLOWED_HOSTS": "hooks.example.com"}  # fmt: skip
    return ControlPlaneSettings.from_env(base | env)


@dataclass
class World:
    """A control plane on in-memory ports, with every port at hand for Given and Then."""

    store: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    storage: InMemoryStorage = field(default_factory=InMemoryStorage)
    inference: RecordingInference = field(default_factory=RecordingInference)
    webhooks: RecordingWebhookQueue = field(default_factory=RecordingWebhookQueue)
    receiver: ScriptedReceiver = field(default_factory=ScriptedReceiver)
    clock: FakeClock = field(default_factory=FakeClock)
    settings: ControlPlaneSettings = field(default_factory=settings)
    photo_limits: PhotoLimits = field(default_factory=lambda: PhotoLimits(max_bytes=2_000_000))
    checker: FakeChecker = field(default_factory=lambda: FakeChecker())

    @property
    def plane(self) -> ControlPlane:
        return build_control_plane(
            self.settings,
            self.store,
            self.storage,
            self.photo_limits,
            inference=self.inference,
            webhooks=self.webhooks,
            checker_factory=lambda: cast(Any, self.checker),
            send_webhook=self.receiver,
            clock=self.clock,
        )


# ---- photo checks -------------------------------------------------------------------------


@dataclass
class FakeFace:
    embedding: np.ndarray
    chip_signature: np.ndarray
    skin_lab: np.ndarray | None = None
    mesh: Any = None


@dataclass
class FakeNormalised:
    normalised: Image.Image


@dataclass
class FakeCheck:
    """What the validator reads of headshot.checks.PhotoCheck."""

    file: str
    reasons: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=lambda: {"check_ms": 1.5})
    face: FakeFace | None = None
    photo: FakeNormalised | None = None

    @property
    def accepted(self) -> bool:
        return not self.reasons


def portrait(person: int = 0, shot: int = 0) -> FakeFace:
    """A face of `person` (embeddings of one person lie close, of two people far apart); each
    `shot` has its own chip signature, so only the same shot twice reads as a duplicate."""
    embedding = np.zeros(128, np.float32)
    embedding[person] = 1.0
    embedding[64 + shot] = 0.05
    chip = np.zeros(1024, np.float32)
    chip[shot] = 1.0
    return FakeFace(embedding, chip, np.array([60.0, 12.0, 16.0]))


class FakeChecker:
    """PhotoChecker with a scripted verdict per upload body: b"person:0:shot:1" is a face,
    b"reject:<reason>" a rejection; anything else has no face."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    def check_bytes(self, data: bytes, file: str, *, keep_normalised: bool = False) -> FakeCheck:
        self.checked.append(file)
        parts = data.decode(errors="replace").split(":")
        if parts[0] == "person":
            normalised = FakeNormalised(Image.new("RGB", (8, 8), (128, 128, 128))) if keep_normalised else None
            return FakeCheck(file, face=portrait(int(parts[1]), int(parts[3])), photo=normalised)
        if parts[0] == "reject":
            return FakeCheck(file, reasons=[Finding.rejection(Reason(parts[1]))])
        return FakeCheck(file, reasons=[Finding.rejection(Reason.NO_FACE)])
