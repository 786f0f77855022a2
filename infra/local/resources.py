"""template.yaml → local resources in moto: names, intrinsics, and creation.

Everything the local stack wires comes from the template: queues with their timing and
redrive policies, the bucket with its notification and lifecycle rules, topics and their
subscriptions, the table with its TTL, the secret, and each function's handler, environment
and event sources. Nothing here restates a name or a setting the template already holds.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from infra.aws_resources import TEMPLATE, create_table
from infra.local.c2pa_test_chain import ThrowawayChain, generate_test_chain
from infra.template_loader import load_template

ACCOUNT: Final = "123456789012"
REGION: Final = "us-east-1"
STACK: Final = "headshot-local"


class LocalResolver:
    """Physical names for logical ids, and CloudFormation intrinsics resolved against them."""

    def __init__(
        self,
        template: dict[str, Any],
        stack: str = STACK,
        region: str = REGION,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.template = template
        self.stack = stack
        self.region = region
        self.parameters = {name: spec.get("Default", "") for name, spec in template.get("Parameters", {}).items()}
        unknown = set(parameters or {}) - set(self.parameters)
        if unknown:
            raise ValueError(f"template.yaml has no parameter(s) {', '.join(sorted(unknown))}")
        self.parameters.update(parameters or {})
        # Values only the emulator knows once a resource exists (queue URLs, suffixed secret ARNs).
        self.ref_overrides: dict[str, Any] = {}

    def name(self, logical_id: str) -> str:
        return f"{self.stack}-{logical_id}".lower() if self._type(logical_id) == "AWS::S3::Bucket" else (
            f"{self.stack}-{logical_id}"
        )  # fmt: skip

    def _type(self, logical_id: str) -> str:
        return str(self.template["Resources"][logical_id]["Type"])

    def ref(self, logical_id: str) -> Any:
        if logical_id in self.ref_overrides:
            return self.ref_overrides[logical_id]
        if logical_id in self.parameters:
            value = self.parameters[logical_id]
            spec = self.template["Parameters"][logical_id]
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                return [part for part in value.split(",") if part]
            return value
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": ACCOUNT, "AWS::StackName": self.stack,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}  # fmt: skip
        if logical_id in pseudo:
            return pseudo[logical_id]
        kind, name = self._type(logical_id), self.name(logical_id)
        if kind in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret", "AWS::SageMaker::Endpoint"):
            return self.arn(logical_id)
        return name

    def arn(self, logical_id: str) -> str:
        kind, name = self._type(logical_id), self.name(logical_id)
        service = {"AWS::SQS::Queue": "sqs", "AWS::SNS::Topic": "sns", "AWS::DynamoDB::Table": "dynamodb",
                   "AWS::SecretsManager::Secret": "secretsmanager", "AWS::SageMaker::Endpoint": "sagemaker",
                   "AWS::S3::Bucket": "s3"}.get(kind, "unknown")  # fmt: skip
        if service == "s3":
            return f"arn:aws:s3:::{name}"
        if service == "dynamodb":
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"
        if service == "secretsmanager":
            return f"arn:aws:secretsmanager:{self.region}:{ACCOUNT}:secret:{name}"
        if service == "sagemaker":
            return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:endpoint/{name.lower()}"
        return f"arn:aws:{service}:{self.region}:{ACCOUNT}:{name}"

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "TopicName", "EndpointName"):
            return self.name(logical_id).lower() if attribute == "EndpointName" else self.name(logical_id)
        if attribute == "QueueUrl":
            return self.ref(logical_id)
        return self.name(logical_id)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        (function, argument), = value.items()  # fmt: skip
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub_value(m.group(1), variables)), text)
        if function == "Fn::Join":
            separator, parts = argument
            flat = []
            for part in self.resolve(parts):
                flat.extend(part if isinstance(part, list) else [part])
            return separator.join(str(p) for p in flat)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if function == "Fn::If":
            return self.resolve(argument[2])  # conditions (optional extras) are off locally
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub_value(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return self.resolve(variables[name])
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute)
        return self.ref(name)


@dataclass(frozen=True, slots=True)
class SqsSource:
    queue: str  # logical id
    batch_size: int
    window_s: int
    report_batch_item_failures: bool
    max_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency; None: Lambda's default scaling


@dataclass(frozen=True, slots=True)
class LocalFunction:
    logical_id: str
    module: str  # "api.app"
    handler: str  # "lambda_handler"
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    code_dir: str  # CodeUri, absolute: what Lambda puts at the top of sys.path
    sqs: list[SqsSource] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def functions(
    template: dict[str, Any], resolver: LocalResolver, template_dir: Path = TEMPLATE.parent
) -> list[LocalFunction]:
    """Every AWS::Serverless::Function with its resolved environment and event sources."""
    globals_function = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in resources_of(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        env: dict[str, Any] = {}
        env.update(globals_function.get("Environment", {}).get("Variables", {}))
        env.update(props.get("Environment", {}).get("Variables", {}))
        environment = {}
        for key, value in env.items():
            resolved = resolver.resolve(value)
            environment[key] = ",".join(resolved) if isinstance(resolved, list) else str(resolved)
        module, handler = str(props["Handler"]).rsplit(".", 1)
        sqs, schedules = [], []
        for event in props.get("Events", {}).values():
            event_props = event.get("Properties", {})
            if event["Type"] == "SQS":
                queue = event_props["Queue"]["Fn::GetAtt"][0]
                sqs.append(
                    SqsSource(
                        queue=queue,
                        batch_size=int(event_props.get("BatchSize", 10)),
                        window_s=int(event_props.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_props.get("FunctionResponseTypes", []),
                        max_concurrency=_int_or_none(event_props.get("ScalingConfig", {}).get("MaximumConcurrency")),
                    )
                )
            elif event["Type"] == "Schedule":
                schedules.append(str(event_props["Schedule"]))
        found.append(
            LocalFunction(
                logical_id=logical_id,
                module=module,
                handler=handler,
                timeout_s=int(props.get("Timeout", globals_function.get("Timeout", 3))),
                memory_mb=int(props.get("MemorySize", globals_function.get("MemorySize", 128))),
                environment=environment,
                code_dir=str(
                    (template_dir / str(props.get("CodeUri", globals_function.get("CodeUri", ".")))).resolve()
                ),
                sqs=sqs,
                schedules=schedules,
            )
        )
    return found


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass
class CreatedResources:
    bucket: str
    table: str
    queue_urls: dict[str, str]  # logical id -> URL
    topic_arns: dict[str, str]
    secret_arn: str
    webhook_secret: str
    lifecycle_rules: list[dict[str, Any]]


def create_all(
    clients: dict[str, Any], template_path: Path = TEMPLATE, parameters: dict[str, str] | None = None
) -> tuple[CreatedResources, LocalResolver]:
    """Create every stateful resource of the template in the emulators (moto)."""
    template = load_template(template_path)
    resolver = LocalResolver(template, parameters=parameters)
    sqs, sns, s3 = clients["sqs"], clients["sns"], clients["s3"]

    queue_urls: dict[str, str] = {}
    queues = resources_of(template, "AWS::SQS::Queue")
    # Dead-letter queues first: the others' redrive policies name them.
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))
    for logical_id in ordered:
        props = queues[logical_id].get("Properties", {})
        attributes = {
            key: str(resolver.resolve(props[key]))
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")
            if key in props
        }
        if "RedrivePolicy" in props:
            policy = resolver.resolve(props["RedrivePolicy"])
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": policy["deadLetterTargetArn"],
                    "maxReceiveCount": int(policy["maxReceiveCount"]),
                }
            )
        queue_urls[logical_id] = sqs.create_queue(QueueName=resolver.name(logical_id), Attributes=attributes)[
            "QueueUrl"
        ]
        resolver.ref_overrides[logical_id] = queue_urls[logical_id]

    topic_arns = {
        logical_id: sns.create_topic(Name=resolver.name(logical_id))["TopicArn"]
        for logical_id in resources_of(template, "AWS::SNS::Topic")
    }
    for subscription in resources_of(template, "AWS::SNS::Subscription").values():
        props = resolver.resolve(subscription["Properties"])
        attributes = {"RawMessageDelivery": str(bool(props.get("RawMessageDelivery", False))).lower()}
        sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"],
                      Attributes=attributes)  # fmt: skip

    (table_id,) = resources_of(template, "AWS::DynamoDB::Table")
    table = create_table(clients["dynamodb"], table_id, resolver.name(table_id), template_path)

    (bucket_id,) = resources_of(template, "AWS::S3::Bucket")
    bucket_props = template["Resources"][bucket_id]["Properties"]
    bucket = resolver.name(bucket_id)
    s3.create_bucket(Bucket=bucket)
    notifications = resolver.resolve(bucket_props.get("NotificationConfiguration", {}))
    queue_configs = []
    for config in notifications.get("QueueConfigurations", []):
        rules = config.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        entry: dict[str, Any] = {"QueueArn": config["Queue"], "Events": [config["Event"]]}
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
        queue_configs.append(entry)
    if queue_configs:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queue_configs}
        )
    lifecycle = resolver.resolve(bucket_props.get("LifecycleConfiguration", {})).get("Rules", [])

    (secret_id,) = resources_of(template, "AWS::SecretsManager::Secret")
    # Standard Webhooks form: whsec_ + base64 of a 32-byte key (docs/WEBHOOKS.md).
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    secret_arn = clients["secretsmanager"].create_secret(Name=resolver.name(secret_id), SecretString=webhook_secret)[
        "ARN"
    ]
    resolver.ref_overrides[secret_id] = secret_arn
    return (
        CreatedResources(bucket, table, queue_urls, topic_arns, secret_arn, webhook_secret, lifecycle),
        resolver,
    )


def create_content_credentials_secret(secretsmanager: Any, stack: str = STACK) -> tuple[str, ThrowawayChain]:
    """The secret an operator passes as ContentCredentialsSecretArn, holding a throwaway chain.

    The template takes the secret as a parameter (a real signing certificate cannot be made
    by CloudFormation), so locally it is created here, from a chain generated per start:
    the container signs exactly as on the endpoint, and verifiers call the signer untrusted.
    """
    chain = generate_test_chain()
    arn = secretsmanager.create_secret(Name=f"{stack}-c2pa-signing", SecretString=chain.material.to_json())["ARN"]
    return str(arn), chain
