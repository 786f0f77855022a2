"""POST /v1/jobs: a new job with one presigned upload per photo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from headshot.jobs import Job, JobError, utcnow, validate_styles
from headshot.settings import ControlPlaneSettings, PhotoLimits
from headshot.usecases.layout import upload_key
from headshot.usecases.ports import JobStore, ObjectStorage
from headshot.usecases.quota import ActiveJobQuota
from headshot.views import created_job
from headshot.webhooks import WebhookPolicy, WebhookUrlError, validate_url


@dataclass(frozen=True, slots=True)
class NewJob:
    """A well-formed request (functions/api checked its shape); the rules are checked here."""

    photo_count: int = 1
    styles: tuple[str, ...] = ("studio_gray",)
    variants: int = 4
    webhook_url: str | None = None
    client_reference: str | None = None


def webhook_policy(settings: ControlPlaneSettings) -> WebhookPolicy:
    return WebhookPolicy(settings.webhook_allowed_hosts, settings.webhook_allow_loopback_http)


@dataclass(frozen=True, slots=True)
class CreateJob:
    settings: ControlPlaneSettings
    store: JobStore
    storage: ObjectStorage
    photo_limits: PhotoLimits
    clock: Callable[[], datetime] = utcnow

    def __call__(self, owner_sub: str, request: NewJob) -> dict[str, Any]:
        # 1. The request against the rules: known styles, an allowed webhook target.
        validate_styles(list(request.styles))
        if request.webhook_url is not None:
            try:
                validate_url(request.webhook_url, webhook_policy(self.settings))
            except WebhookUrlError as error:
                raise JobError("invalid_webhook_url", str(error)) from None
        # 2. The job, and one presigned POST per photo on a key the server chose.
        now = self.clock()
        window = timedelta(seconds=self.settings.upload_window_s)
        job = Job.create(
            owner_sub=owner_sub,
            photo_count=request.photo_count,
            styles=list(request.styles),
            variants=request.variants,
            now=now,
            retention=timedelta(days=self.settings.retention_days),
            upload_window=window,
            webhook_url=request.webhook_url,
            client_reference=request.client_reference,
        )
        uploads = []
        for photo in job.photos:
            key = upload_key(job.job_id, photo.photo_id)
            post = self.storage.presign_upload(key, self.photo_limits.max_bytes, now, window)
            uploads.append(
                {"photo_id": photo.photo_id, "url": post.url, "fields": post.fields, "expires_at": post.expires_at}
            )
        # 3. A place in the owner's quota of active jobs (atomic), then the job, stored only once
        # every upload could be presigned.
        ActiveJobQuota(self.store, self.clock).reserve(owner_sub, job.job_id, self.settings.max_active_jobs_per_user)
        self.store.create(job)
        return created_job(job, uploads)
