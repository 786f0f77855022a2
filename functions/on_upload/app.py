"""Validator function: S3 upload events (via SQS) → photo checks → job settlement → inference.

Each SQS message carries one S3 event notification. A message fails (and is retried, then
dead-lettered) only on faults; bad photos are ordinary outcomes recorded on the job.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from headshot.usecases.layout import parse_upload_key
from headshot.usecases.photo_intake import UploadOutcome
from headshot.wiring import ControlPlane, control_plane

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# An all-failed batch is reported item by item too (same redelivery, no misleading invocation error).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
plane: ControlPlane = control_plane()


def upload_keys(body: str) -> list[str]:
    """Object keys of an S3 event notification (URL-decoded); [] for s3:TestEvent."""
    event = json.loads(body)
    return [
        unquote_plus(record["s3"]["object"]["key"])
        for record in event.get("Records", [])
        if str(record.get("eventName", "")).startswith("ObjectCreated")
    ]


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    for key in upload_keys(record.body):
        parsed = parse_upload_key(key)
        if parsed is None:
            logger.warning("ignoring an object outside uploads/{job}/{photo}")
            continue
        job_id, photo_id = parsed
        result = plane.record_upload(job_id, photo_id)
        logger.info(
            "upload processed",
            extra={"job_id": job_id, "photo_id": photo_id, "outcome": result.outcome.value,
                   "reasons": list(result.reason_codes), "job_status": result.job_status},
        )  # fmt: skip
        if result.outcome is UploadOutcome.IGNORED:
            metrics.add_metric(name="UploadEventsIgnored", unit=MetricUnit.Count, value=1)
            continue
        metrics.add_metric(
            name="PhotosAccepted" if result.accepted else "PhotosRejected", unit=MetricUnit.Count, value=1
        )
        if result.check_ms is not None:
            metrics.add_metric(name="ValidationLatency", unit=MetricUnit.Milliseconds, value=result.check_ms)
        for code in result.reason_codes:
            with single_metric(name="PhotoRejections", unit=MetricUnit.Count, value=1) as metric:
                metric.add_dimension(name="reason", value=code)
        if result.job_status is not None and result.job_status.value in ("queued", "rejected"):
            metrics.add_metric(name=f"Jobs{result.job_status.value.capitalize()}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
