"""Result function: SageMaker async notifications (SNS → SQS) → job completed/failed → webhook."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from headshot.inference import parse_notification
from headshot.usecases.inference_results import ResultOutcome
from headshot.wiring import ControlPlane, control_plane

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# An all-failed batch is reported item by item too (same redelivery, no misleading invocation error).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
plane: ControlPlane = control_plane()


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    notification = parse_notification(record.body)
    if notification is None:
        # Not a SageMaker notification we understand: retrying cannot help; it is logged and dropped.
        logger.warning("unrecognised inference notification", extra={"message_id": record.message_id})
        metrics.add_metric(name="InferenceNotificationsUnrecognised", unit=MetricUnit.Count, value=1)
        return
    outcome, job = plane.record_result(notification)
    logger.info(
        "inference result",
        extra={"inference_id": notification.inference_id, "outcome": outcome.value,
               "job_id": job.job_id if job else None},
    )  # fmt: skip
    if outcome is ResultOutcome.COMPLETED:
        metrics.add_metric(name="JobsCompleted", unit=MetricUnit.Count, value=1)
    elif outcome is ResultOutcome.FAILED:
        metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="InferenceNotificationsIgnored", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
