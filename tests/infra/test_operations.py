"""Operations in template.yaml: what pages an operator, and the dashboard they open.

The alarms and the rule notify AlarmTopic; docs/RUNBOOK.md says what to do for each. The
dashboard's custom metrics must be ones the functions emit (Powertools EMF, namespace and
service from the template's globals), so a renamed metric cannot leave an empty graph.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.template_loader import load_template

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
FUNCTIONS = REPO_ROOT / "functions"
RUNBOOK = REPO_ROOT / "docs" / "RUNBOOK.md"
ALARM_TOPIC = {"Ref": "AlarmTopic"}
ENDPOINT_NAME = {"Fn::GetAtt": ["InferenceEndpoint", "EndpointName"]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def paging_alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Alarms that notify the operators (not the ones that drive autoscaling)."""
    return {
        name: alarm["Properties"]
        for name, alarm in of_type(template, "AWS::CloudWatch::Alarm").items()
        if alarm["Properties"].get("AlarmActions") == [ALARM_TOPIC]
    }


def dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


@pytest.mark.parametrize(
    "metric", ["InvocationFailures", "NotificationFailures", "ResponseUploadFailures", "Invocation5XXErrors"]
)
def test_async_endpoint_failures_page_the_operators(template: dict[str, Any], metric: str) -> None:
    # Given the alarms that notify AlarmTopic
    alarms = [
        a for a in paging_alarms(template).values() if (a["Namespace"], a["MetricName"]) == ("AWS/SageMaker", metric)
    ]
    # Then one watches this async-endpoint metric of our endpoint's variant, from the first failure
    assert len(alarms) == 1, metric
    (alarm,) = alarms
    assert dimensions(alarm) == {"EndpointName": ENDPOINT_NAME, "VariantName": "AllTraffic"}
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    # And no data (an endpoint at zero instances) is not a failure
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["OKActions"] == [ALARM_TOPIC]


def test_http_api_5xx_pages_the_operators(template: dict[str, Any]) -> None:
    # Given the alarms on API Gateway's metrics
    alarms = [a for a in paging_alarms(template).values() if a["Namespace"] == "AWS/ApiGateway"]
    # Then the HTTP API's 5xx count (the metric name HTTP APIs publish) is alarmed for our API
    assert [a["MetricName"] for a in alarms] == ["5xx"]
    assert dimensions(alarms[0]) == {"ApiId": {"Ref": "HttpApi"}}
    assert alarms[0]["Statistic"] == "Sum"
    assert alarms[0]["TreatMissingData"] == "notBreaching"


def test_endpoint_leaving_in_service_is_reported(template: dict[str, Any]) -> None:
    # Given the EventBridge rules
    rules = list(of_type(template, "AWS::Events::Rule").values())
    # Then one matches our endpoint's state changes to any status but InService
    (rule,) = [r["Properties"] for r in rules if r["Properties"]["EventPattern"]["source"] == ["aws.sagemaker"]]
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["SageMaker Endpoint State Change"]
    assert pattern["detail"]["EndpointName"] == [ENDPOINT_NAME]
    (anything_but,) = pattern["detail"]["EndpointStatus"]
    # Events spell statuses IN_SERVICE; the API spells them InService. Both count as in service,
    # and so do the routine Updating/Creating that every autoscaling step and deploy goes through.
    assert set(anything_but["anything-but"]) >= {"IN_SERVICE", "InService"}
    assert not set(anything_but["anything-but"]) & {"FAILED", "Failed", "OUT_OF_SERVICE", "OutOfService"}
    assert rule["State"] == "ENABLED"
    # And sends it to the alarm topic
    assert [t["Arn"] for t in rule["Targets"]] == [ALARM_TOPIC]


def test_eventbridge_may_publish_to_the_encrypted_alarm_topic(template: dict[str, Any]) -> None:
    # Given the alarm topic's policy
    policies = [
        p["Properties"]
        for p in of_type(template, "AWS::SNS::TopicPolicy").values()
        if ALARM_TOPIC in p["Properties"]["Topics"]
    ]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    # Then EventBridge may publish, for this account's rules only
    (allow,) = [s for s in statements if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == ALARM_TOPIC
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["EndpointLeftInServiceRule", "Arn"]}}}
    # And the topic's key lets EventBridge encrypt the message
    key_policy = template["Resources"]["PlatformKey"]["Properties"]["KeyPolicy"]["Statement"]
    (kms,) = [s for s in key_policy if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert set(kms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${Resource} / ${Resource.Attr} / ${AWS::Region} become placeholders; the rest must be JSON.
    body: dict[str, Any] = json.loads(re.sub(r"\$\{([^}!]+)\}", r"<\1>", text))
    return body


def dashboard_metrics(template: dict[str, Any]) -> list[list[Any]]:
    return [
        metric
        for widget in dashboard_body(template)["widgets"]
        for metric in widget.get("properties", {}).get("metrics", [])
    ]


def emitted_metric_names() -> set[str]:
    """Metric names the functions pass to Powertools (add_metric / single_metric, literal names)."""
    names: set[str] = set()
    for path in FUNCTIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in ("add_metric", "single_metric"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names.add(str(keyword.value.value))
                elif keyword.arg == "name" and isinstance(keyword.value, ast.JoinedStr):
                    # f"Jobs{status.capitalize()}": the code's own list of statuses is below.
                    names.update(_formatted_names(keyword.value, path))
    return names


def _formatted_names(value: ast.JoinedStr, path: Path) -> set[str]:
    prefix = "".join(str(v.value) for v in value.values if isinstance(v, ast.Constant))
    statuses = re.findall(r'in \(("[a-z_]+"(?:, "[a-z_]+")*)\)', path.read_text(encoding="utf-8"))
    return {prefix + s.strip('"').capitalize() for group in statuses for s in group.split(", ")}


def test_dashboard_shows_the_pipeline_at_a_glance(template: dict[str, Any]) -> None:
    # Given the dashboard's metrics as (namespace, name)
    metrics = dashboard_metrics(template)
    shown = {(m[0], m[1]) for m in metrics if len(m) >= 2 and not str(m[0]).startswith(".")}
    # Then jobs by status, queue ages, the inference backlog, webhook failures and GPU use are on it
    for status in ("Created", "Queued", "Rejected", "Completed", "Failed", "Expired"):
        assert ("Headshot", f"Jobs{status}") in shown, status
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in shown
    assert ("AWS/SageMaker", "ApproximateBacklogSize") in shown
    assert ("AWS/SageMaker", "ApproximateAgeOfOldestRequest") in shown
    assert ("Headshot", "WebhookFailures") in shown
    assert ("/aws/sagemaker/Endpoints", "GPUUtilization") in shown
    assert ("AWS/ApiGateway", "5xx") in shown
    # And requests SageMaker could not read or that outlived their TTL (the jobs the sweeper expires)
    assert ("AWS/SageMaker", "RequestDownloadFailures") in shown
    assert ("AWS/SageMaker", "ExpiredRequests") in shown
    # And every work queue's age is drawn
    drawn = json.dumps(metrics)
    for queue in ("UploadEventsQueue", "InferenceResultsQueue", "WebhookQueue"):
        assert f"<{queue}.QueueName>" in drawn, queue


def test_dashboard_custom_metrics_are_the_ones_the_code_emits(template: dict[str, Any]) -> None:
    # Given the metrics the functions emit and the template's Powertools settings
    emitted = emitted_metric_names()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    namespace, service = env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]
    # Then every custom metric on the dashboard is emitted, in that namespace with the service dimension
    custom = [m for m in dashboard_metrics(template) if m[0] == namespace]
    assert custom
    for metric in custom:
        assert metric[1] in emitted, metric[1]
        assert metric[2:4] == ["service", service], metric


def test_runbook_says_what_to_do_for_every_page(template: dict[str, Any]) -> None:
    # Given the runbook and every alarm or rule that notifies the operators
    runbook = RUNBOOK.read_text(encoding="utf-8")
    paging = set(paging_alarms(template)) | {
        name
        for name, rule in of_type(template, "AWS::Events::Rule").items()
        if [t["Arn"] for t in rule["Properties"]["Targets"]] == [ALARM_TOPIC]
    }
    # Then each has its own entry (by logical id) in the runbook
    missing = sorted(name for name in paging if f"`{name}`" not in runbook)
    assert not missing, missing


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the pattern forms the template uses: nested objects, lists of
    exact values, and {"anything-but": [...]} (a missing field matches nothing)."""
    if isinstance(pattern, dict):
        return all(key in event and matches(value, event[key]) for key, value in pattern.items())
    return any(
        event not in option["anything-but"] if isinstance(option, dict) else event == option for option in pattern
    )


def endpoint_event(status: str) -> dict[str, Any]:
    # The shape SageMaker sends (docs: "SageMaker endpoint state change"): statuses in capitals.
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Endpoint State Change",
        "detail": {"EndpointName": "<endpoint>", "EndpointStatus": status, "EndpointConfigName": "config"},
    }


@pytest.mark.parametrize(
    ("status", "reported"),
    [
        ("FAILED", True),
        ("OUT_OF_SERVICE", True),
        ("ROLLING_BACK", True),
        ("SYSTEM_UPDATING", True),
        ("DELETING", True),
        ("IN_SERVICE", False),
        ("UPDATING", False),  # every scale to and from zero
        ("CREATING", False),
    ],
)
def test_the_rule_reports_out_of_service_statuses_only(template: dict[str, Any], status: str, reported: bool) -> None:
    # Given the rule's pattern, with our endpoint's name in place of its GetAtt
    (rule,) = of_type(template, "AWS::Events::Rule").values()
    pattern = json.loads(
        json.dumps(rule["Properties"]["EventPattern"]).replace(json.dumps(ENDPOINT_NAME), '"<endpoint>"')
    )
    # When SageMaker reports our endpoint in this status
    # Then the rule matches exactly when the endpoint is out of service
    assert matches(pattern, endpoint_event(status)) is reported
    # And another endpoint's events never match
    other = endpoint_event(status)
    other["detail"]["EndpointName"] = "someone-else"
    assert not matches(pattern, other)
