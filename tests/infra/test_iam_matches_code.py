"""Each function's role grants what its code calls (on the resources it calls them on).

The table is what `headshot.service` and the adapters do per function; a change there that
needs a new permission must show up here and in template.yaml together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.template_loader import load_template

pytestmark = pytest.mark.infra
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

TABLE = "table"
JOB_WRITE = [("dynamodb:GetItem", TABLE), ("dynamodb:PutItem", TABLE)]  # optimistic-locking saves
REQUIRED: dict[str, list[tuple[str, str]]] = {
    "ApiFunction": [
        *JOB_WRITE, ("dynamodb:Query", "index"), ("s3:PutObject", "uploads/"), ("s3:PutObject", "requests/"),
        ("s3:GetObject", "results/"), ("s3:ListBucket", "bucket"), ("sagemaker:InvokeEndpointAsync", "endpoint"),
        *[("s3:DeleteObject", prefix) for prefix in ("uploads/", "photos/", "requests/", "results/")],
    ],
    "OnUploadFunction": [
        *JOB_WRITE, ("s3:GetObject", "uploads/"), ("s3:DeleteObject", "uploads/"), ("s3:PutObject", "photos/"),
        ("s3:DeleteObject", "photos/"), ("s3:PutObject", "requests/"), ("sagemaker:InvokeEndpointAsync", "endpoint"),
        ("sqs:SendMessage", "WebhookQueue"),
    ],
    "OnResultFunction": [
        *JOB_WRITE, ("s3:GetObject", "async-output/"), ("s3:GetObject", "async-failure/"),
        ("sqs:SendMessage", "WebhookQueue"), ("s3:ListBucket", "bucket"), ("s3:DeleteObject", "results/"),
        ("s3:DeleteObject", "async-output/"), ("s3:DeleteObject", "async-failure/"),
    ],
    "SendWebhookFunction": [
        *JOB_WRITE, ("s3:GetObject", "results/"), ("sqs:ChangeMessageVisibility", "WebhookQueue"),
        ("secretsmanager:GetSecretValue", "WebhookSigningSecret"),
    ],
    "SweeperFunction": [
        *JOB_WRITE, ("dynamodb:Query", "index"), ("sqs:SendMessage", "WebhookQueue"),
        ("s3:PutObject", "requests/"), ("sagemaker:InvokeEndpointAsync", "endpoint"),  # stranded rounds
    ],
}  # fmt: skip


def _resource_matches(resource: Any, target: str) -> bool:
    text = str(resource)
    if target == TABLE:
        return "JobsTable" in text and "index" not in text
    if target == "index":
        return "JobsTable" in text and "/index/" in text
    if target == "bucket":
        return "DataBucket" in text and "/" not in text.replace("Fn::GetAtt", "")
    if target == "endpoint":
        return "InferenceEndpoint" in text
    if target.endswith("/"):
        return f"DataBucket.Arn}}/{target}*" in text
    return target in text


def _grants(function: dict[str, Any]) -> list[tuple[set[str], list[Any]]]:
    grants = []
    for policy in function["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants.append(({a.lower() for a in actions}, resources))
    return grants


@pytest.mark.parametrize("logical_id", sorted(REQUIRED))
def test_role_grants_every_call_the_code_makes(logical_id: str) -> None:
    grants = _grants(load_template(TEMPLATE)["Resources"][logical_id])
    missing = [
        (action, target)
        for action, target in REQUIRED[logical_id]
        if not any(
            action.lower() in actions and any(_resource_matches(r, target) for r in resources)
            for actions, resources in grants
        )
    ]
    assert not missing, f"{logical_id} lacks {missing}"
