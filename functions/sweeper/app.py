"""Sweeper (schedule): no job stays non-terminal forever. Expires what can no longer finish."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from headshot.wiring import ControlPlane, control_plane

logger = Logger()
tracer = Tracer()
metrics = Metrics()
plane: ControlPlane = control_plane()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    expired = plane.sweep()
    for job_id, code in expired:
        logger.info("job expired", extra={"job_id": job_id, "code": code})
    metrics.add_metric(name="JobsExpired", unit=MetricUnit.Count, value=len(expired))
    return {"expired": len(expired)}
