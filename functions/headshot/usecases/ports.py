"""The ports the use cases need, and the errors adapters raise through them.

Adapters (`headshot.job_store`, `headshot.storage`, `headshot.inference`, `headshot.wiring`)
implement these; `tests/fakes.py` implements them in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from headshot.jobs import Job, JobStatus
from headshot.webhooks import DeliveryResult, WebhookEventType, WebhookPolicy

if TYPE_CHECKING:  # the image stack (Pillow, dlib) is loaded only by the validator function
    from headshot.checks import PhotoCheck

T = TypeVar("T")

# ---- jobs ---------------------------------------------------------------------------------


class ConcurrentUpdate(Exception):  # noqa: N818 - domain term
    """The record changed since it was read; read again and retry."""


class StoreUnavailable(Exception):  # noqa: N818 - domain term
    """The store could not be reached or refused the request for a reason other than a condition."""


@dataclass(frozen=True, slots=True)
class OwnerPosition:
    """Where a page of an owner's jobs ended (the by_owner index's order): the last job's keys."""

    created_at: str
    job_id: str


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...
    def get(self, job_id: str) -> Job | None: ...
    # The owner's jobs newest first (created_at, then job_id, descending), at most `limit`,
    # strictly after `after` in that order; only ever the owner's partition of the index.
    def list_by_owner(self, owner_sub: str, limit: int, after: OwnerPosition | None) -> list[Job]: ...
    def save(self, job: Job) -> None: ...
    def count_active(self, owner_sub: str) -> int: ...
    # The owner's active-job reservations (job id -> ISO time reserved) and their item's version;
    # a save on another version raises ConcurrentUpdate (headshot.usecases.quota serialises on it).
    def reservations(self, owner_sub: str) -> tuple[dict[str, str], int | None]: ...
    def save_reservations(self, owner_sub: str, reservations: dict[str, str], version: int | None) -> None: ...
    # A user's erasure: the record itself goes (DELETE keeps a tombstone), and the owner's quota item.
    def remove(self, job_id: str) -> None: ...
    def remove_reservations(self, owner_sub: str) -> None: ...
    def stuck(self, status: JobStatus, before: datetime) -> Iterator[Job]: ...


def update(store: JobStore, job_id: str, change: Callable[[Job], T], attempts: int = 8) -> tuple[Job, T] | None:
    """Read, apply `change`, write conditionally; on a concurrent write, re-read and retry.

    Returns None when the job does not exist. `change` may raise a domain error, which
    propagates unchanged (nothing is written). Every state change goes through here, so
    duplicate and out-of-order events find the job already moved on and change nothing.
    """
    for _ in range(attempts):
        job = store.get(job_id)
        if job is None:
            return None
        outcome = change(job)
        try:
            store.save(job)
        except ConcurrentUpdate:
            continue
        return job, outcome
    raise ConcurrentUpdate(f"job {job_id} kept changing during {attempts} attempts")


# ---- objects ------------------------------------------------------------------------------


class StorageError(Exception):
    """The object store failed in a way the caller should surface as a fault (and retry)."""


class ObjectMissing(StorageError):  # noqa: N818 - domain term
    pass


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    fields: dict[str, str]
    expires_at: str


class ObjectStorage(Protocol):
    """The data bucket; keys follow `headshot.usecases.layout`."""

    @property
    def bucket(self) -> str: ...
    def presign_upload(self, key: str, max_bytes: int, now: datetime, expires_in: timedelta) -> PresignedUpload: ...
    def presign_get(self, key: str, now: datetime, expires_in: timedelta) -> tuple[str, str]: ...
    def head_size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def read_limited(self, key: str, max_bytes: int) -> bytes: ...
    def get_bytes(self, key: str) -> bytes: ...
    def put(self, key: str, body: bytes, content_type: str) -> None: ...
    def delete(self, keys: list[str]) -> int: ...
    def erase_job(self, job_id: str, extra_keys: list[str], prefixes: tuple[str, ...] = ...) -> int: ...
    def erase_under(self, prefix: str, extra_keys: list[str]) -> int: ...


# ---- inference ----------------------------------------------------------------------------


class InferenceUnavailable(Exception):  # noqa: N818 - domain term
    """The endpoint could not take the request now; the caller retries (the event is redelivered)."""


@dataclass(frozen=True, slots=True)
class Invocation:
    inference_id: str
    output_location: str
    failure_location: str | None


class InferenceClient(Protocol):
    def invoke(self, input_location: str, inference_id: str) -> Invocation: ...


@dataclass(frozen=True, slots=True)
class InferenceNotification:
    """What an inference notification says, whatever carried it (the adapter parses SageMaker's)."""

    inference_id: str
    succeeded: bool
    output_location: str | None
    failure_location: str | None
    failure_reason: str | None


# ---- webhooks and photos ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A message for the webhook queue; the sender renders a job event's body from the job at send time.

    An event about no live job (`user.erased`: the jobs are gone) carries its target and its data.
    """

    job_id: str
    event_type: WebhookEventType
    event_id: str
    created_at: str
    # Asked for by the owner (POST /v1/jobs/{id}/webhook/redeliver): sent even if delivered before.
    redelivery: bool = False
    target_url: str | None = None
    data: dict[str, Any] | None = None

    def to_message(self) -> str:
        message: dict[str, Any] = {
            "job_id": self.job_id,
            "type": self.event_type.value,
            "event_id": self.event_id,
            "created_at": self.created_at,
        }
        if self.redelivery:
            message["redelivery"] = True
        if self.target_url is not None:
            message["target_url"] = self.target_url
            message["data"] = self.data or {}
        return json.dumps(message)

    @classmethod
    def from_message(cls, body: str) -> WebhookRequest:
        message = json.loads(body)
        target, data = message.get("target_url"), message.get("data")
        return cls(
            str(message["job_id"]), WebhookEventType(message["type"]), str(message["event_id"]),
            str(message["created_at"]), message.get("redelivery") is True,
            str(target) if target is not None else None, dict(data) if isinstance(data, dict) else None,
        )  # fmt: skip


class WebhookQueue(Protocol):
    """Where webhook requests go (an SQS adapter in production)."""

    def send(self, request: WebhookRequest) -> None: ...


class SigningSecret(Protocol):
    """The webhook signing secret's current text (Secrets Manager in production; see signing_keys)."""

    def __call__(self) -> str: ...


class WebhookSender(Protocol):
    """One HTTP attempt to the client's endpoint (headshot.webhooks.deliver: SSRF-vetted, pinned)."""

    def __call__(
        self, target_url: str, body: bytes, headers: Mapping[str, str], policy: WebhookPolicy
    ) -> DeliveryResult: ...


class IdempotentRequests(Protocol):
    """Idempotency-Key: `call` runs once per (caller, operation, key); a repeat gets its answer.

    A repeat with another `request` raises JobError idempotency_key_reused, one while the first
    still runs raises request_in_progress; an exception from `call` is not remembered.
    """

    def once(
        self, owner_sub: str, operation: str, key: str, request: Mapping[str, Any], call: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]: ...
    # The invocation's Lambda context: a record left in progress is released when it would have timed out.
    def bind_context(self, context: Any) -> None: ...


class PhotoChecker(Protocol):
    def check_bytes(self, data: bytes, file: str, *, keep_normalised: bool = ...) -> PhotoCheck: ...
