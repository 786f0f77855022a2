"""Webhook sender: signs and delivers job events, backing off through the queue.

Attempts are counted by SQS (ApproximateReceiveCount). A retryable failure postpones the
message with ChangeMessageVisibility and reports it failed; after WEBHOOK_MAX_ATTEMPTS the
failure is recorded on the job and the message goes to the dead-letter queue.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from headshot.settings import require
from headshot.usecases.deliver_webhook import DeliveryState
from headshot.usecases.notifications import WebhookRequest
from headshot.wiring import ControlPlane, control_plane

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# An all-failed batch is reported item by item too (same redelivery, no misleading invocation error).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
plane: ControlPlane = control_plane()
SECRET_ARN = require(os.environ, "WEBHOOK_SECRET_ARN")
QUEUE_URL = plane.settings.need(plane.settings.webhook_queue_url, "WEBHOOK_QUEUE_URL")
sqs = boto3.client("sqs")


class RetryLater(Exception):  # noqa: N818 - control flow for the batch processor
    pass


def signing_secret() -> str:
    # Cached for 5 minutes: rotation takes effect without a cold start, the secret is not fetched per message.
    value = parameters.get_secret(SECRET_ARN, max_age=300)
    return value if isinstance(value, str) else bytes(value).decode("ascii")


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    request = WebhookRequest.from_message(record.body)
    attempt = int(record.attributes.approximate_receive_count or 1)
    outcome = plane.deliver_webhook(request, attempt, signing_secret())
    status = outcome.result.status if outcome.result else None
    logger.info(
        "webhook attempt",
        extra={"job_id": request.job_id, "event_id": request.event_id, "attempt": attempt,
               "state": outcome.state.value, "http_status": status},
    )  # fmt: skip
    if outcome.state is DeliveryState.RETRY:
        sqs.change_message_visibility(
            QueueUrl=QUEUE_URL, ReceiptHandle=record.receipt_handle, VisibilityTimeout=outcome.retry_after_s or 30
        )
        raise RetryLater(f"attempt {attempt} failed; retrying in {outcome.retry_after_s}s")
    if outcome.state is DeliveryState.DELIVERED:
        metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=1)
    elif outcome.state is DeliveryState.FAILED:
        metrics.add_metric(name="WebhookFailures", unit=MetricUnit.Count, value=1)
        if outcome.result is not None and outcome.result.retryable:
            # Out of attempts on a retryable error: visible again at once, so SQS's redrive moves it
            # to the DLQ (where the alarm sees it) now rather than after a full visibility timeout.
            sqs.change_message_visibility(QueueUrl=QUEUE_URL, ReceiptHandle=record.receipt_handle, VisibilityTimeout=0)
            raise RetryLater("out of attempts")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
