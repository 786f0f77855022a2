"""Builds the control plane from the environment: adapters are created once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3

from headshot.inference import SageMakerAsyncClient
from headshot.job_store import DynamoJobStore
from headshot.service import ControlPlane, WebhookQueue, WebhookRequest
from headshot.settings import get_control_plane_settings, get_settings
from headshot.storage import S3Storage


class SqsWebhookQueue(WebhookQueue):
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._url = queue_url
        self._sqs = client or boto3.client("sqs")

    def send(self, request: WebhookRequest) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=request.to_message())


@lru_cache(maxsize=1)
def control_plane() -> ControlPlane:
    settings = get_control_plane_settings()
    endpoint = settings.sagemaker_endpoint_name
    return ControlPlane(
        settings=settings,
        store=DynamoJobStore(settings.jobs_table),
        storage=S3Storage(settings.data_bucket),
        photo_limits=get_settings().photo_limits,
        inference=(
            SageMakerAsyncClient(endpoint, settings.inference_request_ttl_s, settings.inference_invocation_timeout_s)
            if endpoint
            else None
        ),
        webhooks=SqsWebhookQueue(settings.webhook_queue_url) if settings.webhook_queue_url else None,
    )
