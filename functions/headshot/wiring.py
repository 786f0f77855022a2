"""The composition root: the use cases built over the adapters, once per process.

`build_control_plane` takes the ports (tests pass in-memory fakes or moto-backed adapters);
`control_plane()` builds the production set from the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import boto3

from headshot.idempotency import DynamoIdempotentRequests
from headshot.inference import SageMakerAsyncClient
from headshot.job_store import DynamoJobStore
from headshot.jobs import utcnow
from headshot.settings import (
    ConfigurationError,
    ControlPlaneSettings,
    PhotoLimits,
    get_control_plane_settings,
    get_settings,
)
from headshot.storage import S3Storage
from headshot.usecases.cancel_job import CancelJob
from headshot.usecases.create_job import CreateJob
from headshot.usecases.delete_job import DeleteJob
from headshot.usecases.deliver_webhook import DeliverWebhook
from headshot.usecases.erase_user import EraseUser
from headshot.usecases.get_job import GetJob
from headshot.usecases.inference_results import RecordResult
from headshot.usecases.list_jobs import ListJobs
from headshot.usecases.notifications import Notify, WebhookRequest
from headshot.usecases.photo_intake import RecordUpload, default_checker
from headshot.usecases.ports import (
    IdempotentRequests,
    InferenceClient,
    JobStore,
    ObjectStorage,
    PhotoChecker,
    SigningSecret,
    WebhookQueue,
    WebhookSender,
)
from headshot.usecases.redeliver_webhook import RedeliverWebhook
from headshot.usecases.regenerate_job import RegenerateJob
from headshot.usecases.start_inference import StartInference
from headshot.usecases.sweep import SweepJobs
from headshot.usecases.webhook_test_event import SendTestEvent
from headshot.webhooks import deliver


class SqsWebhookQueue:
    """WebhookQueue on SQS."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._url = queue_url
        self._sqs = client or boto3.client("sqs")

    def send(self, request: WebhookRequest) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=request.to_message())


class SecretsManagerSigningSecret:
    """SigningSecret from Secrets Manager, cached for five minutes: a rotation applies without a cold start."""

    def __init__(self, secret_arn: str, max_age_s: int = 300) -> None:
        self._arn = secret_arn
        self._max_age_s = max_age_s

    def __call__(self) -> str:
        from aws_lambda_powertools.utilities import parameters  # only functions that sign load it

        value = parameters.get_secret(self._arn, max_age=self._max_age_s)
        return value if isinstance(value, str) else bytes(value).decode("ascii")


def _no_signing_secret() -> str:
    # A wiring mistake (the function has no WEBHOOK_SECRET_ARN), not the client's: answers 500.
    raise ConfigurationError("required environment variable WEBHOOK_SECRET_ARN is not set for this function")


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """Every use case, ready to call; each handler uses the ones its function needs."""

    settings: ControlPlaneSettings
    clock: Callable[[], datetime]
    create_job: CreateJob
    get_job: GetJob
    list_jobs: ListJobs
    delete_job: DeleteJob
    erase_user: EraseUser
    cancel_job: CancelJob
    regenerate: RegenerateJob
    start_inference: StartInference
    record_upload: RecordUpload
    record_result: RecordResult
    sweep: SweepJobs
    notify: Notify
    deliver_webhook: DeliverWebhook
    send_test_webhook: SendTestEvent
    redeliver_webhook: RedeliverWebhook
    # Only the API function's requests carry an Idempotency-Key.
    idempotency: IdempotentRequests | None


def build_control_plane(
    settings: ControlPlaneSettings,
    store: JobStore,
    storage: ObjectStorage,
    photo_limits: PhotoLimits,
    *,
    idempotency: IdempotentRequests | None = None,
    inference: InferenceClient | None = None,
    webhooks: WebhookQueue | None = None,
    checker_factory: Callable[[], PhotoChecker] = default_checker,
    send_webhook: WebhookSender = deliver,
    signing_secret: SigningSecret = _no_signing_secret,
    clock: Callable[[], datetime] = utcnow,
) -> ControlPlane:
    notify = Notify(webhooks, clock)
    start = StartInference(store, storage, inference)
    delete_job = DeleteJob(store, storage, clock)
    return ControlPlane(
        settings=settings,
        clock=clock,
        create_job=CreateJob(settings, store, storage, photo_limits, clock),
        get_job=GetJob(store, storage, clock),
        list_jobs=ListJobs(store, storage, clock),
        delete_job=delete_job,
        erase_user=EraseUser(store, delete_job, webhooks, clock),
        cancel_job=CancelJob(store, storage, notify, clock),
        regenerate=RegenerateJob(
            store, storage, start, clock, settings.max_active_jobs_per_user, settings.max_rounds_per_job
        ),
        start_inference=start,
        record_upload=RecordUpload(store, storage, photo_limits, start, notify, checker_factory, clock),
        record_result=RecordResult(store, storage, notify, clock),
        sweep=SweepJobs(settings, store, notify, clock, start if inference is not None else None, storage),
        notify=notify,
        deliver_webhook=DeliverWebhook(settings, store, storage, send_webhook, clock),
        send_test_webhook=SendTestEvent(settings, send_webhook, signing_secret, clock),
        redeliver_webhook=RedeliverWebhook(store, webhooks),
        idempotency=idempotency,
    )


@lru_cache(maxsize=1)
def control_plane() -> ControlPlane:
    settings = get_control_plane_settings()
    endpoint = settings.sagemaker_endpoint_name
    return build_control_plane(
        settings,
        DynamoJobStore(settings.jobs_table),
        S3Storage(settings.data_bucket),
        get_settings().photo_limits,
        idempotency=DynamoIdempotentRequests(settings.jobs_table, settings.idempotency_window_s),
        inference=(
            SageMakerAsyncClient(endpoint, settings.inference_request_ttl_s, settings.inference_invocation_timeout_s)
            if endpoint
            else None
        ),
        webhooks=SqsWebhookQueue(settings.webhook_queue_url) if settings.webhook_queue_url else None,
        signing_secret=(
            SecretsManagerSigningSecret(settings.webhook_secret_arn)
            if settings.webhook_secret_arn
            else _no_signing_secret
        ),
    )
