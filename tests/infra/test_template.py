"""Checks of template.yaml (the whole stack) and docs/openapi.yaml.

The linters run from the interpreter's own environment (the dev extra); a
missing linter is a failure, not a skip.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local.resources import LocalResolver
from infra.template_loader import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.infra

TEMPLATE_PATH = REPO_ROOT / "template.yaml"
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.yaml"

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
DATA_ACTION_PREFIXES = ("s3:", "dynamodb:", "sqs:", "secretsmanager:", "sagemaker:invokeendpoint")
DATA_ACTIONS = {"sns:publish", "*"}
RETAINED_PREFIXES = ("photos/", "requests/", "results/", "async-output/", "async-failure/")
FOURTEEN_DAYS = 14 * 24 * 3600

GLOBAL_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
    "JOBS_TABLE",
    "DATA_BUCKET",
    "RETENTION_DAYS",
}
INFERENCE_ENV = {
    "SAGEMAKER_ENDPOINT_NAME",
    "INFERENCE_REQUEST_TTL_SECONDS",
    "INFERENCE_INVOCATION_TIMEOUT_SECONDS",
}
EXPECTED_FUNCTIONS = {
    # logical id: (handler, environment variables beyond GLOBAL_ENV)
    "ApiFunction": (
        "api.app.lambda_handler",
        # the queue for redeliveries, the secret for test events, how long Idempotency-Keys last
        {
            "MAX_ACTIVE_JOBS_PER_USER",
            "WEBHOOK_ALLOWED_HOSTS",
            "WEBHOOK_QUEUE_URL",
            "WEBHOOK_SECRET_ARN",
            "IDEMPOTENCY_WINDOW_SECONDS",
        }
        | INFERENCE_ENV,
    ),
    "OnUploadFunction": ("on_upload.app.lambda_handler", {"WEBHOOK_QUEUE_URL"} | INFERENCE_ENV),
    "OnResultFunction": ("on_result.app.lambda_handler", {"WEBHOOK_QUEUE_URL"}),
    "SendWebhookFunction": (
        "send_webhook.app.lambda_handler",
        {
            "WEBHOOK_QUEUE_URL",
            "WEBHOOK_SECRET_ARN",
            "WEBHOOK_ALLOWED_HOSTS",
            "WEBHOOK_MAX_ATTEMPTS",
        },
    ),
    "SweeperFunction": (
        "sweeper.app.lambda_handler",
        {
            "SAGEMAKER_ENDPOINT_NAME",
            "WEBHOOK_QUEUE_URL",
            "INFERENCE_REQUEST_TTL_SECONDS",
            "INFERENCE_INVOCATION_TIMEOUT_SECONDS",
        },
    ),
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == resource_type}


def properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props = template["Resources"][logical_id].get("Properties", {})
    assert isinstance(props, dict)
    return props


def function_events(template: dict[str, Any], event_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(function logical id, event name, event properties) for each event of that type."""
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event_name, event in function["Properties"].get("Events", {}).items():
            if event["Type"] == event_type:
                yield name, event_name, event["Properties"]


def function_setting(template: dict[str, Any], logical_id: str, key: str) -> Any:
    own = properties(template, logical_id)
    if key in own:
        return own[key]
    return template["Globals"]["Function"][key]


def getatt_target(value: Any, attribute: str) -> str:
    """Logical id named by {"Fn::GetAtt": [id, attribute]}."""
    assert isinstance(value, dict), value
    assert "Fn::GetAtt" in value, value
    logical_id, got_attribute = value["Fn::GetAtt"]
    assert got_attribute == attribute, value
    return str(logical_id)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every statement of every policy document anywhere in the template."""
    if isinstance(node, dict):
        statements = node.get("Statement")
        if isinstance(statements, list):
            yield from (s for s in statements if isinstance(s, dict))
        for value in node.values():
            yield from policy_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_statements(value)


def render(template: dict[str, Any], parameters: dict[str, str]) -> tuple[dict[str, Any], LocalResolver]:
    """The template as CloudFormation deploys it with these parameters: conditions evaluated,
    resources whose Condition fails left out, each Fn::If replaced by its chosen branch and
    AWS::NoValue removed. Other intrinsics stay;
    the returned resolver resolves them against the same parameters."""
    resolver = LocalResolver(template, parameters=parameters)

    def holds(condition: Any) -> bool:
        (function, argument), = condition.items()  # fmt: skip
        if function == "Condition":
            return holds(template["Conditions"][argument])
        if function == "Fn::Equals":
            left, right = (resolver.resolve(side) for side in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not holds(argument[0])
        if function == "Fn::Or":
            return any(holds(c) for c in argument)
        if function == "Fn::And":
            return all(holds(c) for c in argument)
        raise AssertionError(f"condition function {function} is not rendered here")

    no_value = {"Ref": "AWS::NoValue"}

    def choose(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return choose(when_true if holds(template["Conditions"][name]) else when_false)
            chosen = {key: choose(value) for key, value in node.items()}
            return {key: value for key, value in chosen.items() if value != no_value}
        if isinstance(node, list):
            return [item for item in (choose(i) for i in node) if item != no_value]
        return node

    kept = {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or holds({"Condition": resource["Condition"]})
    }
    return {**template, "Resources": choose(kept)}, resolver


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    # Linters come from the dev extra (next to this interpreter) or, for checkov with its
    # own pinned dependency tree, from the tool environment the Makefile builds.
    candidates = [Path(sys.executable).parent / name, REPO_ROOT / ".venv-tools" / "bin" / name]
    executable = next((c for c in candidates if c.exists()), None)
    if executable is None:
        pytest.fail(f"{name} not found in {[str(c.parent) for c in candidates]}; run `make test` to bootstrap them")
    return subprocess.run(
        [str(executable), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# --------------------------------------------------------------------------
# linters
# --------------------------------------------------------------------------


def test_cfn_lint_reports_nothing() -> None:
    # Given the stack template
    # When cfn-lint checks it (SAM transform included)
    result = run_tool("cfn-lint", "--format", "parseable", "--", str(TEMPLATE_PATH))
    # Then it reports no error and no warning
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_checkov_passes() -> None:
    # Given the stack template, whose exceptions are inline skips
    # When checkov scans it offline
    result = run_tool(
        "checkov",
        "-f",
        str(TEMPLATE_PATH),
        "--framework",
        "cloudformation",
        "--compact",
        "--quiet",
        "--skip-download",
    )
    # Then no check fails
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_checkov_skip_is_justified(template: dict[str, Any]) -> None:
    # Given every checkov skip in resource metadata
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    # Then each names a check and says why in a sentence
    for name, skip in skips:
        assert str(skip.get("id", "")).startswith("CKV"), (name, skip)
        assert len(str(skip.get("comment", ""))) >= 20, (name, skip)


# --------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------


def test_openapi_routes_equal_http_api_routes(template: dict[str, Any], openapi: dict[str, Any]) -> None:
    # Given the routes the template wires to Lambda
    template_routes = {
        (str(props["Method"]).upper(), str(props["Path"])) for _, _, props in function_events(template, "HttpApi")
    }
    # When the OpenAPI document's operations are listed the same way
    openapi_routes = {
        (method.upper(), path) for path, item in openapi["paths"].items() for method in item if method in HTTP_METHODS
    }
    # Then they are the same set, and they are the routes of the design
    assert openapi_routes == template_routes
    assert template_routes == {
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("DELETE", "/v1/jobs/{job_id}"),
        ("DELETE", "/v1/me"),
        ("POST", "/v1/jobs/{job_id}/cancel"),
        ("POST", "/v1/jobs/{job_id}/regenerate"),
        ("POST", "/v1/jobs/{job_id}/webhook/redeliver"),
        ("POST", "/v1/webhooks/test"),
        ("GET", "/v1/styles"),
    }
    assert str(openapi["openapi"]).startswith("3.1")


def test_openapi_references_resolve(openapi: dict[str, Any]) -> None:
    # Given every local $ref in the OpenAPI document
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    # Then each points at an existing component
    for ref in refs(openapi):
        assert ref.startswith("#/"), ref
        target: Any = openapi
        for part in ref[2:].split("/"):
            assert isinstance(target, dict), ref
            assert part in target, ref
            target = target[part]


def test_openapi_documents_bearer_auth_and_error_shape(openapi: dict[str, Any]) -> None:
    # Given the document's security and schemas
    schemes = openapi["components"]["securitySchemes"]
    schemas = openapi["components"]["schemas"]
    # Then every operation needs a bearer JWT
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert openapi["security"] == [{"bearerAuth": []}]
    for item in openapi["paths"].values():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                assert "security" not in operation, operation["operationId"]
    # And errors are {"error": {"code", "message"}}
    assert schemas["Error"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message"}
    # And the create body carries the design's limits and defaults
    create = schemas["CreateJobRequest"]["properties"]
    assert (create["photo_count"]["minimum"], create["photo_count"]["maximum"]) == (1, 20)
    assert create["photo_count"]["default"] == 1
    assert create["styles"]["default"] == ["studio_gray"]
    assert (create["variants"]["minimum"], create["variants"]["maximum"], create["variants"]["default"]) == (1, 8, 4)
    assert create["client_reference"]["maxLength"] == 128
    assert schemas["StyleId"]["enum"] == ["studio_gray", "studio_white", "studio_blue", "office_blur"]


def test_http_api_requires_jwt_and_is_throttled_and_logged(template: dict[str, Any]) -> None:
    # Given the HTTP API
    api = properties(template, "HttpApi")
    auth = api["Auth"]
    # Then a JWT authorizer configured from the parameters is the default
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert authorizer["JwtConfiguration"] == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}
    assert authorizer["IdentitySource"] == "$request.header.Authorization"
    # And no route opts out of it, and every route belongs to this API
    for _, event_name, props in function_events(template, "HttpApi"):
        assert "Auth" not in props, event_name
        assert props["ApiId"] == {"Ref": "HttpApi"}, event_name
    # And the stage is throttled and access-logged
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(api["DefaultRouteSettings"])
    log_group = getatt_target(api["AccessLogSettings"]["DestinationArn"], "Arn")
    assert template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"


# --------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------


def test_functions_handlers_runtime_and_environment(template: dict[str, Any]) -> None:
    # Given the functions and the shared settings
    functions = resources_of_type(template, "AWS::Serverless::Function")
    global_settings = template["Globals"]["Function"]
    # Then they are exactly the five of the design, on one shared code tree
    assert set(functions) == set(EXPECTED_FUNCTIONS)
    assert global_settings["Runtime"] == "python3.12"
    assert global_settings["CodeUri"] == "functions/"
    assert global_settings["Tracing"] == "Active"
    assert set(global_settings["Environment"]["Variables"]) == GLOBAL_ENV
    for name, (handler, extra_env) in EXPECTED_FUNCTIONS.items():
        props = functions[name]["Properties"]
        assert props["Handler"] == handler
        assert "CodeUri" not in props, name
        # And each gets the shared variables plus exactly what it needs
        own_env = set(props.get("Environment", {}).get("Variables", {}))
        assert own_env | GLOBAL_ENV == GLOBAL_ENV | extra_env, name


def test_sqs_event_sources_report_partial_batch_failures(template: dict[str, Any]) -> None:
    # Given every SQS event source mapping
    events = list(function_events(template, "SQS"))
    assert {name for name, _, _ in events} == {"OnUploadFunction", "OnResultFunction", "SendWebhookFunction"}
    for name, event_name, props in events:
        # Then it reports partial batch failures and sets its batching
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], (name, event_name)
        assert isinstance(props["BatchSize"], int), (name, event_name)
        assert isinstance(props["MaximumBatchingWindowInSeconds"], int), (name, event_name)


def test_queue_visibility_timeout_covers_six_consumer_timeouts(template: dict[str, Any]) -> None:
    # Given each SQS-triggered function and its queue
    for name, event_name, props in function_events(template, "SQS"):
        queue = getatt_target(props["Queue"], "Arn")
        timeout = int(function_setting(template, name, "Timeout"))
        window = int(props.get("MaximumBatchingWindowInSeconds", 0))
        # Then a message stays invisible for at least 6 x timeout + window
        visibility = int(properties(template, queue)["VisibilityTimeout"])
        assert visibility >= 6 * timeout + window, (name, event_name, visibility)


def test_iam_grants_no_data_action_on_wildcard_resource(template: dict[str, Any]) -> None:
    # Given every Allow statement of every policy in the template
    statements = [s for s in policy_statements(template["Resources"]) if s.get("Effect") == "Allow"]
    assert statements
    for statement in statements:
        actions = [str(a).lower() for a in as_list(statement.get("Action", []))]
        resources = as_list(statement.get("Resource", []))
        data_actions = [a for a in actions if a.startswith(DATA_ACTION_PREFIXES) or a in DATA_ACTIONS]
        # Then none grants a data action on "*"
        assert not (data_actions and "*" in resources), statement


def test_functions_use_inline_policies_only(template: dict[str, Any]) -> None:
    # Given the functions' policies
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        policies = function["Properties"].get("Policies", [])
        # Then each is an inline document (no managed or broad SAM template policies)
        assert policies, name
        for policy in policies:
            assert isinstance(policy, dict), (name, policy)
            assert "Statement" in policy, (name, policy)


def test_every_function_has_an_errors_alarm(template: dict[str, Any]) -> None:
    # Given the Lambda Errors alarms
    alarmed = {
        dimension["Value"]["Ref"]
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "Errors"
        for dimension in alarm["Properties"]["Dimensions"]
        if dimension["Name"] == "FunctionName"
    }
    # Then every function has one
    assert alarmed == set(resources_of_type(template, "AWS::Serverless::Function"))


# --------------------------------------------------------------------------
# queues
# --------------------------------------------------------------------------


def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    return {
        getatt_target(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"], "Arn")
        for queue in resources_of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }


def test_every_work_queue_redrives_to_its_own_dlq(template: dict[str, Any]) -> None:
    # Given the queues and the DLQs their redrive policies name
    queues = resources_of_type(template, "AWS::SQS::Queue")
    dlqs = dead_letter_queues(template)
    work_queues = set(queues) - dlqs
    # Then every work queue has a redrive policy to a DLQ of its own
    assert work_queues == {"UploadEventsQueue", "InferenceResultsQueue", "WebhookQueue"}
    assert len(dlqs) == len(work_queues)
    for name in work_queues:
        assert "RedrivePolicy" in queues[name]["Properties"], name
    # And the webhook queue's receive limit is the configured attempt count
    webhook_redrive = queues["WebhookQueue"]["Properties"]["RedrivePolicy"]
    assert webhook_redrive["maxReceiveCount"] == {"Ref": "WebhookMaxAttempts"}
    # And DLQs keep messages 14 days and redrive nowhere
    for name in dlqs:
        assert queues[name]["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS, name
        assert "RedrivePolicy" not in queues[name]["Properties"], name


def test_every_queue_is_encrypted(template: dict[str, Any]) -> None:
    for name, queue in resources_of_type(template, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


def test_every_dlq_has_an_alarm(template: dict[str, Any]) -> None:
    # Given the DLQs and the alarms
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    for dlq in dead_letter_queues(template):
        # Then some alarm fires on one visible message in it and notifies
        matching = [
            alarm["Properties"]
            for alarm in alarms
            if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and any(
                d["Name"] == "QueueName" and d["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]}
                for d in alarm["Properties"]["Dimensions"]
            )
        ]
        assert matching, dlq
        for alarm in matching:
            assert alarm["Threshold"] <= 1, dlq
            assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], dlq


def test_inference_topics_deliver_to_the_results_queue(template: dict[str, Any]) -> None:
    # Given the SNS subscriptions and the results queue policy
    subscriptions = {
        props["TopicArn"]["Ref"]: props
        for props in (s["Properties"] for s in resources_of_type(template, "AWS::SNS::Subscription").values())
        if props["Protocol"] == "sqs"
    }
    topics = {"InferenceSuccessTopic", "InferenceErrorTopic"}
    # Then both topics feed InferenceResultsQueue, which admits exactly them
    assert set(subscriptions) == topics
    for props in subscriptions.values():
        assert getatt_target(props["Endpoint"], "Arn") == "InferenceResultsQueue"
    (statement,) = properties(template, "InferenceResultsQueuePolicy")["PolicyDocument"]["Statement"]
    allowed = {ref["Ref"] for ref in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert allowed == topics
    # And every topic is encrypted
    for name, topic in resources_of_type(template, "AWS::SNS::Topic").items():
        assert "KmsMasterKeyId" in topic["Properties"], name


# --------------------------------------------------------------------------
# data bucket and table
# --------------------------------------------------------------------------


def test_data_bucket_is_private_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    # Given the data bucket and its policy
    bucket = properties(template, "DataBucket")
    policy = properties(template, "DataBucketPolicy")
    # Then all four public-access blocks are on and objects are encrypted
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # And versioning stays off, so deletes and expiry really erase
    assert bucket.get("VersioningConfiguration", {}).get("Status") != "Enabled"
    # And the policy denies any request without TLS on bucket and objects
    assert policy["Bucket"] == {"Ref": "DataBucket"}
    deny_insecure = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert len(deny_insecure) == 1
    assert deny_insecure[0]["Principal"] == "*"
    assert set(map(str, as_list(deny_insecure[0]["Resource"]))) == {
        str({"Fn::GetAtt": ["DataBucket", "Arn"]}),
        str({"Fn::Sub": "${DataBucket.Arn}/*"}),
    }


def test_lifecycle_rules_expire_every_prefix(template: dict[str, Any]) -> None:
    # Given the bucket's lifecycle rules
    rules = [
        r for r in properties(template, "DataBucket")["LifecycleConfiguration"]["Rules"] if r["Status"] == "Enabled"
    ]
    expiry = {r["Prefix"]: r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r}
    # Then uploads go after a day and everything else after RetentionDays
    assert expiry == {"uploads/": 1, **{prefix: {"Ref": "RetentionDays"} for prefix in RETAINED_PREFIXES}}
    # And unfinished multipart uploads are aborted bucket-wide after a day
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert len(aborts) == 1
    assert aborts[0]["Prefix"] == ""
    assert aborts[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_upload_notifications_reach_the_upload_queue(template: dict[str, Any]) -> None:
    # Given the bucket's notification and the upload queue's policy
    bucket_resource = template["Resources"]["DataBucket"]
    (notification,) = bucket_resource["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    (statement,) = properties(template, "UploadEventsQueuePolicy")["PolicyDocument"]["Statement"]
    # Then object creations under uploads/ go to UploadEventsQueue
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert getatt_target(notification["Queue"], "Arn") == "UploadEventsQueue"
    # And the queue admits S3 for exactly this bucket of this account
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    name_format, name_variables = bucket_resource["Properties"]["BucketName"]["Fn::Sub"]
    arn_format, arn_variables = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert arn_format == "arn:${AWS::Partition}:s3:::" + name_format
    assert arn_variables == name_variables
    # And the policy exists before S3 validates the destination
    assert bucket_resource["DependsOn"] == "UploadEventsQueuePolicy"


def test_jobs_table_keys_indexes_and_protection(template: dict[str, Any]) -> None:
    # Given the jobs table
    table = properties(template, "JobsTable")
    # Then its keys and indexes are the documented ones
    assert table["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    indexes = {
        index["IndexName"]: [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]]
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_owner": [("owner_sub", "HASH"), ("created_at", "RANGE")],
        "by_status": [("status", "HASH"), ("updated_at", "RANGE")],
    }
    # And records expire, are recoverable, encrypted, and billed per request
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at_ttl", "Enabled": True}
    # (recoverable for no longer than a record is kept: a restore must not bring back erased
    # embeddings older than RetentionDays, so the window follows it and RetentionDays stays <= 35)
    assert table["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": {"Ref": "RetentionDays"},
    }
    assert template["Parameters"]["RetentionDays"]["MaxValue"] <= 35
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["BillingMode"] == "PAY_PER_REQUEST"


# --------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------


def test_async_endpoint_writes_to_bucket_and_notifies(template: dict[str, Any]) -> None:
    # Given the endpoint configuration
    config = properties(template, "InferenceEndpointConfig")
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    (variant,) = config["ProductionVariants"]
    # Then outputs and failures land under their prefixes of the data bucket
    assert output["S3OutputPath"] == {"Fn::Sub": "s3://${DataBucket}/async-output/"}
    assert output["S3FailurePath"] == {"Fn::Sub": "s3://${DataBucket}/async-failure/"}
    assert output["NotificationConfig"] == {
        "SuccessTopic": {"Ref": "InferenceSuccessTopic"},
        "ErrorTopic": {"Ref": "InferenceErrorTopic"},
    }
    # And the variant runs the configured instance type with long start-up limits
    assert variant["InstanceType"] == {"Ref": "InferenceInstanceType"}
    assert variant["ModelDataDownloadTimeoutInSeconds"] >= 600
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] >= 600
    model = properties(template, "InferenceModel")["PrimaryContainer"]
    assert model["Image"] == {"Ref": "InferenceImageUri"}


def test_gpu_endpoints_get_a_driver_that_matches_the_image(template: dict[str, Any]) -> None:
    # Given the endpoint config and the image's CUDA base
    variant = template["Resources"]["InferenceEndpointConfig"]["Properties"]["ProductionVariants"][0]
    base = (REPO_ROOT / "inference_container" / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1].split("\n", 1)[0]
    # Then GPU instance types get the AMI with NVIDIA 550 / CUDA 12.4 (the image's CUDA), CPU types none
    condition, ami, otherwise = variant["InferenceAmiVersion"]["Fn::If"]
    assert (ami, otherwise) == ("al2-ami-sagemaker-inference-gpu-3-1", {"Ref": "AWS::NoValue"})
    assert "-cuda12.4-" in base
    families = {
        equals["Fn::Equals"][1] for equals in template["Conditions"][condition]["Fn::Or"]
    }  # the instance families that AMI supports
    assert {"g4dn", "g5", "g6", "p3", "p4d", "p4de", "p5"} == families
    assert template["Parameters"]["InferenceInstanceType"]["Default"].split(".")[1] in families


def test_endpoint_scales_to_zero_and_back(template: dict[str, Any]) -> None:
    # Given the scalable target and its policies
    target = properties(template, "InferenceScalableTarget")
    policies = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    by_type = {p["Properties"]["PolicyType"]: name for name, p in policies.items()}
    # Then the variant may scale between 0 and MaxEndpointInstances
    assert target["MinCapacity"] == 0
    assert target["MaxCapacity"] == {"Ref": "MaxEndpointInstances"}
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    # And target tracking follows the backlog per instance
    tracking = properties(template, by_type["TargetTrackingScaling"])
    metric = tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/SageMaker", "ApproximateBacklogSizePerInstance")
    # And one waiting job (a backlog of 1 per instance) never makes target tracking add a second GPU
    assert tracking["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] > 1
    # And a step policy sets the count to exactly 1 when a backlog meets no capacity, however often
    # its alarm fires during the cold start (ChangeInCapacity +1 would start one GPU per firing)
    step_name = by_type["StepScaling"]
    step = properties(template, step_name)["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ExactCapacity"
    assert [(a["MetricIntervalLowerBound"], a["ScalingAdjustment"]) for a in step["StepAdjustments"]] == [(0, 1)]
    # And its cooldown ends before target tracking could have scaled back in to 0 (15 low minutes),
    # so a job arriving right after a scale-in is not held back by it
    assert 0 < step["Cooldown"] < 15 * 60
    (trigger,) = [
        a["Properties"]
        for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "HasBacklogWithoutCapacity"
    ]
    assert trigger["Namespace"] == "AWS/SageMaker"
    assert trigger["AlarmActions"] == [{"Ref": step_name}]
    assert (trigger["Threshold"], trigger["Period"], trigger["EvaluationPeriods"]) == (1, 60, 1)
    assert trigger["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_inference_backlog_age_is_alarmed(template: dict[str, Any]) -> None:
    metrics = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmActions") == [{"Ref": "AlarmTopic"}]
    }
    assert ("AWS/SageMaker", "ApproximateAgeOfOldestRequest") in metrics
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in metrics


MODEL_ARCHIVE = "s3://models-bucket/headshot/v1/model.tar.gz"
MODEL_PREFIX = "s3://models-bucket/headshot/v1/"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/headshot-inference:v1"


def model_data_grants(rendered: dict[str, Any], resolver: LocalResolver) -> dict[str, list[Any]]:
    """{action: resolved resources} of the SageMaker role's S3 grants on the model bucket."""
    grants: dict[str, list[Any]] = {}
    for statement in policy_statements(rendered["Resources"]["SageMakerExecutionRole"]["Properties"]["Policies"]):
        resources = [resolver.resolve(r) for r in as_list(statement["Resource"])]
        if any("models-bucket" in str(r) for r in resources):
            for action in as_list(statement["Action"]):
                grants.setdefault(action, []).extend(resources)
    return grants


def test_model_data_is_one_archive_unless_uncompressed(template: dict[str, Any]) -> None:
    # Given the template's model data parameters: an archive by default
    assert template["Parameters"]["ModelDataCompression"]["AllowedValues"] == ["Gzip", "None"]
    assert template["Parameters"]["ModelDataCompression"]["Default"] == "Gzip"
    # When it is rendered with the default and a tar.gz URL
    rendered, resolver = render(template, {"InferenceImageUri": IMAGE, "ModelDataUrl": MODEL_ARCHIVE})
    container = rendered["Resources"]["InferenceModel"]["Properties"]["PrimaryContainer"]
    # Then SageMaker extracts that archive (ModelDataUrl, no ModelDataSource)
    assert container["ModelDataUrl"] == {"Ref": "ModelDataUrl"}
    assert "ModelDataSource" not in container
    # And the role may read exactly that object, and list nothing
    assert model_data_grants(rendered, resolver) == {
        "s3:GetObject": ["arn:aws:s3:::models-bucket/headshot/v1/model.tar.gz"]
    }


def test_uncompressed_model_data_is_an_s3_prefix(template: dict[str, Any]) -> None:
    # When the template is rendered for uncompressed files under a prefix
    rendered, resolver = render(
        template, {"InferenceImageUri": IMAGE, "ModelDataUrl": MODEL_PREFIX, "ModelDataCompression": "None"}
    )
    container = rendered["Resources"]["InferenceModel"]["Properties"]["PrimaryContainer"]
    # Then SageMaker copies every object under the prefix as it is (and gets no ModelDataUrl)
    assert "ModelDataUrl" not in container
    assert container["ModelDataSource"] == {
        "S3DataSource": {"S3Uri": {"Ref": "ModelDataUrl"}, "S3DataType": "S3Prefix", "CompressionType": "None"}
    }
    # And the role may read the objects under that prefix and list the model bucket, nothing more
    assert model_data_grants(rendered, resolver) == {
        "s3:GetObject": ["arn:aws:s3:::models-bucket/headshot/v1/*"],
        "s3:ListBucket": ["arn:aws:s3:::models-bucket"],
    }


def test_autoscaling_can_be_lifted_for_an_instance_type_change(template: dict[str, Any]) -> None:
    # Given the endpoint's autoscaling resources
    scaling = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"].startswith("AWS::ApplicationAutoScaling::")
        or resource["Properties"].get("MetricName") == "HasBacklogWithoutCapacity"
    }
    assert scaling == {
        "InferenceScalableTarget",
        "InferenceBacklogTargetTracking",
        "InferenceScaleFromZero",
        "InferenceHasBacklogWithoutCapacityAlarm",
    }
    parameters = {"InferenceImageUri": IMAGE, "ModelDataUrl": MODEL_ARCHIVE}
    # When the template is rendered with the defaults, and with EndpointAutoScaling Disabled
    enabled, _ = render(template, parameters)
    disabled, _ = render(template, {**parameters, "EndpointAutoScaling": "Disabled"})
    # Then they exist by default, and are all left out together for the first of the two deploys
    # (none would point at a deregistered target), while the endpoint itself stays
    assert scaling <= set(enabled["Resources"])
    assert not scaling & set(disabled["Resources"])
    assert {"InferenceEndpoint", "InferenceEndpointConfig"} <= set(disabled["Resources"])


def test_runbook_lists_every_stack_parameter_with_its_default(template: dict[str, Any]) -> None:
    # Given the parameter table of the runbook's `sam deploy` section (rows "| `Name` | default | ... |")
    runbook = (REPO_ROOT / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")
    section = runbook.split("\n## 5. `sam deploy`\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    documented = {row[0].strip("`"): row[1].strip("`") for row in rows}
    # Then it names exactly the template's parameters, each with the template's default
    expected = {
        name: "required" if "Default" not in spec else (str(spec["Default"]) or "empty")
        for name, spec in template["Parameters"].items()
    }
    assert documented == expected
