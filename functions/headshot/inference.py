"""The inference adapter: SageMaker asynchronous invocation, and SageMaker's notifications read
into the use cases' InferenceNotification. The request and result documents are
`headshot.contract`'s; the control plane writes them through `headshot.usecases.manifests`.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from headshot.usecases.ports import InferenceClient, InferenceNotification, InferenceUnavailable, Invocation

__all__ = [
    "InferenceClient",
    "InferenceNotification",
    "InferenceUnavailable",
    "Invocation",
    "SageMakerAsyncClient",
    "parse_notification",
]


class SageMakerAsyncClient:
    """InvokeEndpointAsync on the stack's endpoint; boto3 finds the endpoint URL itself."""

    def __init__(self, endpoint_name: str, request_ttl_s: int, invocation_timeout_s: int, client: Any = None) -> None:
        self._endpoint = endpoint_name
        self._ttl = request_ttl_s
        self._timeout = invocation_timeout_s
        self._runtime = client or boto3.client("sagemaker-runtime")

    def invoke(self, input_location: str, inference_id: str) -> Invocation:
        try:
            response = self._runtime.invoke_endpoint_async(
                EndpointName=self._endpoint,
                InputLocation=input_location,
                InferenceId=inference_id,
                ContentType="application/json",
                RequestTTLSeconds=self._ttl,
                InvocationTimeoutSeconds=self._timeout,
            )
        except (BotoCoreError, ClientError) as error:
            raise InferenceUnavailable(type(error).__name__) from error
        return Invocation(
            inference_id=str(response.get("InferenceId", inference_id)),
            output_location=str(response["OutputLocation"]),
            failure_location=response.get("FailureLocation"),
        )


def parse_notification(body: str) -> InferenceNotification | None:
    """SageMaker's async notification from an SQS body: an SNS envelope (raw delivery off) or the
    bare notification; None for anything else. Only the fields we rely on are read, defensively."""
    try:
        message = json.loads(body)
        if isinstance(message, dict) and isinstance(message.get("Message"), str) and "TopicArn" in message:
            message = json.loads(message["Message"])
    except (ValueError, TypeError):
        return None
    if not isinstance(message, dict):
        return None
    inference_id = message.get("inferenceId")
    status = message.get("invocationStatus")
    if not isinstance(inference_id, str) or status not in ("Completed", "Failed"):
        return None
    response = message.get("responseParameters")
    response = response if isinstance(response, dict) else {}
    output = response.get("outputLocation")
    failure = response.get("failureLocation") or message.get("failureLocation")
    reason = message.get("failureReason")
    return InferenceNotification(
        inference_id=inference_id,
        succeeded=status == "Completed",
        output_location=output if isinstance(output, str) else None,
        failure_location=failure if isinstance(failure, str) else None,
        failure_reason=reason if isinstance(reason, str) else None,
    )
