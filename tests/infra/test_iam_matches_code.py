"""Each function's role grants exactly the AWS calls its code makes: no fewer, no more.

The calls are derived from the code (tests/infra/aws_calls.py follows handler -> use case ->
port -> adapter -> boto3/PynamoDB/Powertools), not from a table kept by hand, so a new call
without its permission, or a permission whose call was removed, fails here. Resources are
checked for their kind (the jobs table or its indexes, the data bucket's key prefixes), and for
the prefix wherever the code builds the key with headshot.usecases.layout; prefixes of keys read
from records or SageMaker's output locations are reviewed in template.yaml, where each statement
says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.template_loader import load_template
from tests.infra.aws_calls import Call, adapters, derive, derive_package, ports, use_cases

pytestmark = pytest.mark.infra
TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
FUNCTIONS = {
    name: resource["Properties"]["Handler"]
    for name, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(function: str) -> list[tuple[set[str], list[Any]]]:
    """(actions, resources) of each Allow statement of the function's inline policies."""
    found = []
    for policy in TEMPLATE["Resources"][function]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if statement.get("Effect") == "Allow":
                found.append(({str(a) for a in as_list(statement["Action"])}, as_list(statement["Resource"])))
    return found


def implied(actions: set[str]) -> set[str]:
    """Permissions a call needs besides its own action, read from the template's resources."""
    extra: set[str] = set()
    secrets = [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"]
    if "secretsmanager:GetSecretValue" in actions and any("KmsKeyId" in s["Properties"] for s in secrets):
        extra.add("kms:Decrypt")  # a secret under a customer managed key is decrypted with the caller's rights
    return extra


def table_kinds(resources: list[Any]) -> set[str]:
    kinds = set()
    for resource in resources:
        text = str(resource)
        if "JobsTable" in text:
            kinds.add("index" if "/index/" in text else "table")
    return kinds


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_role_grants_every_call_the_code_makes(function: str) -> None:
    # Given the calls the function's code makes
    derived = derive(FUNCTIONS[function])
    granted = {a for actions, _ in grants(function) for a in actions}
    # Then its role allows each of them
    missing = sorted((derived.actions | implied(derived.actions)) - granted)
    assert not missing, f"{function} calls {missing} without permission"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_role_grants_nothing_the_code_does_not_call(function: str) -> None:
    # Given the calls the function's code makes
    derived = derive(FUNCTIONS[function])
    granted = {a for actions, _ in grants(function) for a in actions}
    # Then its role allows no other action (least privilege: a removed call takes its grant along)
    extra = sorted(granted - derived.actions - implied(derived.actions))
    assert not extra, f"{function} is granted {extra}, which its code never calls"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_dynamodb_grants_name_the_table_or_its_indexes_as_the_code_uses_them(function: str) -> None:
    # Given the DynamoDB calls the code makes, on the table or on a secondary index
    derived = derive(FUNCTIONS[function])
    for action in sorted(a for a in derived.actions if a.startswith("dynamodb:")):
        needed = {"index" if c.on_index else "table" for c in derived.calls if c.action == action}
        # Then the role grants that action on exactly those (a query on an index needs the index ARN)
        granted = set().union(*(table_kinds(r) for actions, r in grants(function) if action in actions))
        assert granted == needed, (function, action, granted, needed)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_s3_object_grants_are_scoped_to_key_prefixes(function: str) -> None:
    # Given the role's S3 statements
    for actions, resources in grants(function):
        for action in sorted(a for a in actions if a.startswith("s3:")):
            for resource in resources:
                text = str(resource)
                # Then object actions name prefixes of the data bucket, ListBucket the bucket under a prefix condition
                if action == "s3:ListBucket":
                    assert resource == {"Fn::GetAtt": ["DataBucket", "Arn"]}, (function, resource)
                else:
                    assert "${DataBucket.Arn}/" in text and text.rstrip("'}").endswith("/*"), (function, text)
                    assert "${DataBucket.Arn}/*" not in text, (function, "whole bucket")


def statements(function: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in TEMPLATE["Resources"][function]["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for s in policy.get("Statement", [])
        if s.get("Effect") == "Allow"
    ]


def covers(statement: dict[str, Any], action: str, prefix: str) -> bool:
    if action not in as_list(statement["Action"]):
        return False
    if action == "s3:ListBucket":
        listed = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
        return f"{prefix}*" in as_list(listed)
    return any(f"${{DataBucket.Arn}}/{prefix}*" in str(r) for r in as_list(statement["Resource"]))


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_s3_grants_cover_the_key_prefixes_the_code_builds(function: str) -> None:
    # Given the S3 calls whose keys the code builds with headshot.usecases.layout (photo_key(...))
    derived = derive(FUNCTIONS[function])
    # Then the role grants each action on that key prefix (ListBucket: under an s3:prefix condition)
    missing = sorted(
        (action, prefix)
        for action, prefix in derived.object_prefixes
        if not any(covers(s, action, prefix) for s in statements(function))
    )
    assert not missing, f"{function} lacks {missing}"


def test_the_scan_follows_every_path_from_the_handlers() -> None:
    # Given every handler
    for function, handler in FUNCTIONS.items():
        derived = derive(handler)
        # Then every use case it reaches through the composition root was resolved to a class
        assert not derived.unresolved, (function, derived.unresolved)
        # And it makes some AWS call (a handler that makes none would mean the scan lost its path)
        assert derived.actions, function


def test_the_scan_knows_the_adapters_of_every_aws_port() -> None:
    # Given the ports and what control_plane() passes for them
    wired = adapters()
    # Then each port whose adapter talks to AWS is mapped to that adapter class
    assert wired["JobStore"] == ("headshot.job_store", "DynamoJobStore")
    assert wired["ObjectStorage"] == ("headshot.storage", "S3Storage")
    assert wired["InferenceClient"] == ("headshot.inference", "SageMakerAsyncClient")
    assert wired["WebhookQueue"][1] == "SqsWebhookQueue"
    assert set(wired) <= set(ports())
    # And the composition root's use cases are all classes the scan can read
    assert {"create_job", "record_upload", "record_result", "sweep", "deliver_webhook"} <= set(use_cases())


def test_the_scan_reads_known_calls_as_their_iam_actions() -> None:
    # Given handlers whose calls are known from their code
    sender = derive("send_webhook.app.lambda_handler").calls
    validator = derive("on_upload.app.lambda_handler").calls
    sweeper = derive("sweeper.app.lambda_handler").calls
    # Then boto3 client calls, Powertools secrets and PynamoDB operations map to IAM actions
    assert Call("sqs:ChangeMessageVisibility") in sender  # boto3 client in the handler
    assert Call("secretsmanager:GetSecretValue") in sender  # Powertools parameters
    assert Call("sqs:SendMessage") in validator  # port -> adapter -> client
    assert Call("sagemaker:InvokeEndpointAsync") in validator  # sagemaker-runtime -> sagemaker:
    assert Call("s3:PutObject") in validator
    assert Call("dynamodb:PutItem") in validator  # PynamoDB save
    assert Call("dynamodb:Query", on_index=True) in sweeper  # PynamoDB query on a GSI
    # And a function is not charged with another function's calls
    assert Call("sqs:ChangeMessageVisibility") not in validator
    # And the key prefixes come from layout calls, through assignments and method parameters
    assert ("s3:GetObject", "uploads/") in derive("on_upload.app.lambda_handler").object_prefixes
    assert ("s3:PutObject", "photos/") in derive("on_upload.app.lambda_handler").object_prefixes
    assert Call("sagemaker:InvokeEndpointAsync") not in sender


# What SageMaker itself does with the execution role to host this async endpoint (not code of
# ours, so not derivable): pull the image, read the model data, write async outputs, publish the
# notifications to the encrypted topics, write the endpoint's logs and instance metrics.
SAGEMAKER_PLATFORM = {
    "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken",
    "s3:GetObject", "s3:ListBucket", "s3:PutObject", "sns:Publish", "kms:Decrypt", "kms:GenerateDataKey*",
    "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents",
    "cloudwatch:PutMetricData",
}  # fmt: skip
CONTAINER = Path(__file__).resolve().parents[2] / "inference_container"


def sagemaker_role_statements() -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in TEMPLATE["Resources"]["SageMakerExecutionRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            # Statements under a condition (Fn::If) are [condition, then, else]; both branches count.
            branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
            statements.extend(b for b in branches if isinstance(b, dict) and "Effect" in b)
    return statements


def test_sagemaker_role_grants_the_container_calls_and_the_platform_needs_only() -> None:
    # Given the AWS calls the inference container's code makes, and what SageMaker does with the role
    container = derive_package(CONTAINER).actions
    granted = {str(a) for s in sagemaker_role_statements() for a in as_list(s["Action"])}
    # Then the role grants every container call (and the secret's key is the operator's, not ours)
    assert container - granted == set()
    # And nothing beyond those and the platform's needs
    assert granted - container - SAGEMAKER_PLATFORM == set()


def test_sagemaker_role_writes_metrics_only_in_namespaces_that_are_written() -> None:
    # Given the metric namespaces the role may write to
    (metrics,) = [s for s in sagemaker_role_statements() if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    namespaces = set(as_list(metrics["Condition"]["StringLike"]["cloudwatch:namespace"]))
    # Then SageMaker's own, plus ours only if the container's code writes metrics itself
    writes_own = "cloudwatch:PutMetricData" in derive_package(CONTAINER).actions
    assert namespaces == {"/aws/sagemaker/*"} | ({"Headshot*"} if writes_own else set())
