"""The async endpoint's configuration, and reading it from template.yaml's EndpointConfig and Endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AsyncEndpointConfig", "TemplateConfigError", "endpoint_config_from_template", "endpoint_name_from_template"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AsyncEndpointConfig:
    """What the emulator needs from the endpoint config (AsyncInferenceConfig) and the endpoint.

    Empty ``s3_failure_path`` / topic ARNs mean "not configured", as in SageMaker: no failure
    object (and no ``FailureLocation``) resp. no notification.
    """

    endpoint_name: str
    s3_output_path: str  # "s3://bucket/async-output/"
    s3_failure_path: str  # "s3://bucket/async-failure/"
    success_topic_arn: str
    error_topic_arn: str
    max_concurrent_invocations: int  # per instance; the emulator has one instance


class TemplateConfigError(ValueError):
    """The template lacks what the emulator needs, or holds it ambiguously."""


def _resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        raise TemplateConfigError("the template has no Resources")
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == kind
    }


def _async_endpoint_config(template: Mapping[str, Any], logical_id: str | None) -> tuple[str, dict[str, Any]]:
    configs = {
        config_id: props
        for config_id, props in _resources_of_type(template, "AWS::SageMaker::EndpointConfig").items()
        if "AsyncInferenceConfig" in props
    }
    if logical_id is not None:
        if logical_id not in configs:
            raise TemplateConfigError(
                f"{logical_id} is not an AWS::SageMaker::EndpointConfig with AsyncInferenceConfig"
            )
        return logical_id, configs[logical_id]
    if len(configs) != 1:
        raise TemplateConfigError(
            f"expected exactly one AWS::SageMaker::EndpointConfig with AsyncInferenceConfig, found {sorted(configs)}"
        )
    return next(iter(configs.items()))


def _refers_to(value: Any, logical_id: str) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    if value.get("Ref") == logical_id:
        return True
    target = value.get("Fn::GetAtt")
    if isinstance(target, str):
        target = target.split(".", 1)
    return isinstance(target, list) and len(target) == 2 and target[0] == logical_id


def _resolved_string(resolve: Callable[[Any], Any], value: Any, what: str) -> str:
    resolved = resolve(value)
    if not isinstance(resolved, str) or not resolved:
        raise TemplateConfigError(f"{what} did not resolve to a non-empty string: {resolved!r}")
    return resolved


def endpoint_name_from_template(
    template: Mapping[str, Any], resolve: Callable[[Any], Any], *, endpoint_config_id: str | None = None
) -> str:
    """The name of the AWS::SageMaker::Endpoint that uses the async endpoint config.

    The endpoint is the one whose ``EndpointConfigName`` refers (``Ref`` or ``Fn::GetAtt``) to the
    config (``endpoint_config_id``, or the template's only async endpoint config). Its name is
    ``resolve(Properties.EndpointName)`` when the template sets one, else
    ``resolve({"Fn::GetAtt": [<endpoint logical id>, "EndpointName"]})``: the same expression the
    functions' ``SAGEMAKER_ENDPOINT_NAME`` uses, so the resolver gives both sides one name.
    """
    config_id, _ = _async_endpoint_config(template, endpoint_config_id)
    endpoints = {
        endpoint_id: props
        for endpoint_id, props in _resources_of_type(template, "AWS::SageMaker::Endpoint").items()
        if _refers_to(props.get("EndpointConfigName"), config_id)
    }
    if len(endpoints) != 1:
        raise TemplateConfigError(
            f"expected exactly one AWS::SageMaker::Endpoint using {config_id}, found {sorted(endpoints)}"
        )
    endpoint_id, props = next(iter(endpoints.items()))
    expression = props.get("EndpointName", {"Fn::GetAtt": [endpoint_id, "EndpointName"]})
    return _resolved_string(resolve, expression, f"{endpoint_id} EndpointName")


def endpoint_config_from_template(
    template: Mapping[str, Any],
    resolve: Callable[[Any], Any],
    *,
    endpoint_name: str | None = None,
    endpoint_config_id: str | None = None,
) -> AsyncEndpointConfig:
    """The emulator's config from the template's AWS::SageMaker::EndpointConfig (AsyncInferenceConfig).

    ``template`` is what ``infra.template_loader.load_template`` returns; every value read is
    passed through ``resolve`` (the caller's intrinsic resolver; literals must come back unchanged).
    Reads ``OutputConfig.S3OutputPath`` (required), ``S3FailurePath`` and
    ``NotificationConfig.SuccessTopic`` / ``ErrorTopic`` (optional: ``""`` when absent) and
    ``ClientConfig.MaxConcurrentInvocationsPerInstance`` (1 when absent). The endpoint name is
    ``endpoint_name`` when given, else :func:`endpoint_name_from_template`. With several async
    endpoint configs, ``endpoint_config_id`` picks one by logical id.
    """
    config_id, props = _async_endpoint_config(template, endpoint_config_id)
    async_config = props["AsyncInferenceConfig"]
    output = async_config.get("OutputConfig") or {}
    notifications = output.get("NotificationConfig") or {}
    client = async_config.get("ClientConfig") or {}
    if "S3OutputPath" not in output:
        raise TemplateConfigError(f"{config_id} has no AsyncInferenceConfig.OutputConfig.S3OutputPath")

    def optional(value: Any, what: str) -> str:
        return "" if value is None else _resolved_string(resolve, value, what)

    concurrency: Any = client.get("MaxConcurrentInvocationsPerInstance")
    if concurrency is None:
        concurrency = 1
    else:
        concurrency = resolve(concurrency)
        try:
            concurrency = int(concurrency)
        except (TypeError, ValueError):
            message = f"MaxConcurrentInvocationsPerInstance is not an integer: {concurrency!r}"
            raise TemplateConfigError(message) from None
    if concurrency < 1:
        raise TemplateConfigError(f"MaxConcurrentInvocationsPerInstance must be at least 1: {concurrency}")
    config = AsyncEndpointConfig(
        endpoint_name=endpoint_name or endpoint_name_from_template(template, resolve, endpoint_config_id=config_id),
        s3_output_path=_resolved_string(resolve, output["S3OutputPath"], "S3OutputPath"),
        s3_failure_path=optional(output.get("S3FailurePath"), "S3FailurePath"),
        success_topic_arn=optional(notifications.get("SuccessTopic"), "SuccessTopic"),
        error_topic_arn=optional(notifications.get("ErrorTopic"), "ErrorTopic"),
        max_concurrent_invocations=concurrency,
    )
    for path in filter(None, (config.s3_output_path, config.s3_failure_path)):
        if not path.startswith("s3://"):
            raise TemplateConfigError(f"not an s3:// path: {path}")
    logger.debug("async endpoint config from %s: %s", config_id, config)
    return config
