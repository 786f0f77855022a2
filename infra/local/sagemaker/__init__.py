"""A SageMaker Asynchronous Inference endpoint on one machine (docs/INFERENCE.md).

The emulator speaks the real ``InvokeEndpointAsync`` wire protocol (botocore's ``sagemaker-runtime``
service model: ``POST /endpoints/{EndpointName}/async-invocations``, parameters in
``X-Amzn-SageMaker-*`` headers, ``202`` with ``InferenceId`` in the JSON body and the output and
failure locations in response headers), so unchanged code calling
``boto3.client("sagemaker-runtime").invoke_endpoint_async(...)`` works when
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` points here.

One module per job: ``wire`` (the protocol: headers, limits, validation errors, the HTTP handler
over the shared :mod:`infra.local.httpserver`), ``config`` (the endpoint config and reading it from
template.yaml), ``emulator`` (one instance: a queue and ``MaxConcurrentInvocationsPerInstance``
workers that call the container, write the result to S3 and notify SNS).

S3 and SNS are reached with boto3 clients created in :meth:`SageMakerAsyncEmulator.start`; they
honour ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_SNS`` and the usual
credential variables, so those must be in this process's environment before ``start()``.

Deliberate differences from the service: no SigV4 check, one instance (no auto scaling), the queue
lives in memory (requests still queued at :meth:`~SageMakerAsyncEmulator.stop` are dropped, with a
warning), ``IncludeInferenceResponseIn`` is not emulated, and ``failure_rate`` / ``delay_s`` inject
faults for drills.
"""

from infra.local.sagemaker.config import (
    AsyncEndpointConfig,
    TemplateConfigError,
    endpoint_config_from_template,
    endpoint_name_from_template,
)
from infra.local.sagemaker.emulator import SageMakerAsyncEmulator

__all__ = [
    "AsyncEndpointConfig",
    "SageMakerAsyncEmulator",
    "TemplateConfigError",
    "endpoint_config_from_template",
    "endpoint_name_from_template",
]
