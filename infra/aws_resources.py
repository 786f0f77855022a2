"""Create AWS resources from their template.yaml definitions (moto in tests, the local stack).

Only the properties the emulated services understand are passed on; names the template
leaves to CloudFormation become the logical id, prefixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.template_loader import load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"


def resource_properties(logical_id: str, template_path: Path = TEMPLATE) -> dict[str, Any]:
    resource = load_template(template_path)["Resources"][logical_id]
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def create_table(dynamodb: Any, logical_id: str, name: str, template_path: Path = TEMPLATE) -> str:
    """Create a DynamoDB table exactly as template.yaml declares it; return its name."""
    props = resource_properties(logical_id, template_path)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in props["GlobalSecondaryIndexes"]
        ]
    dynamodb.create_table(**request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    return name


# CloudFormation SQS properties that are queue attributes (values are passed as strings).
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")


def create_queue(sqs: Any, logical_id: str, name: str, template_path: Path = TEMPLATE) -> str:
    """Create an SQS queue with the template's timing attributes; return its URL."""
    props = resource_properties(logical_id, template_path)
    attributes = {key: str(props[key]) for key in _QUEUE_ATTRIBUTES if isinstance(props.get(key), int)}
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def function_environment(
    logical_id: str, resources: Mapping[str, str | list[str]], template_path: Path = TEMPLATE
) -> dict[str, str]:
    """A function's environment as template.yaml gives it (Globals, then its own), resolved.

    `resources` maps what the template refers to — logical ids for Ref, "Id.Attribute" for
    GetAtt, parameter names to override defaults — onto concrete values.
    """
    template = load_template(template_path)
    parameters = {name: _parameter_default(spec) for name, spec in template.get("Parameters", {}).items()} | {
        k: v for k, v in resources.items() if k in template.get("Parameters", {})
    }
    variables: dict[str, Any] = {}
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    variables.update(global_env)
    function = template["Resources"][logical_id]["Properties"]
    variables.update(function.get("Environment", {}).get("Variables", {}))
    return {name: _resolve(value, resources, parameters) for name, value in variables.items()}


def _parameter_default(spec: dict[str, Any]) -> Any:
    default = spec.get("Default", "")
    if spec.get("Type") == "CommaDelimitedList" and isinstance(default, str):
        return [part for part in default.split(",") if part]
    return default


def _resolve(value: Any, resources: Mapping[str, str | list[str]], parameters: dict[str, Any]) -> Any:
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list):
        return [_resolve(v, resources, parameters) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument in parameters:
                given = parameters[argument]
                return [str(v) for v in given] if isinstance(given, list) else str(given)
            return resources[argument]
        if function == "Fn::GetAtt":
            name = ".".join(argument) if isinstance(argument, list) else str(argument)
            return resources[name]
        if function == "Fn::Join":
            separator, parts = argument
            resolved = _resolve(parts, resources, parameters)
            flat = [p for part in resolved for p in (part if isinstance(part, list) else [part])]
            return separator.join(str(p) for p in flat)
    raise ValueError(f"cannot resolve {value!r} for a local environment")
