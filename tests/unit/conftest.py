"""Fixtures for control-plane unit tests: moto's mock_aws with resources built from template.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from headshot.job_store import DynamoJobStore
from infra.aws_resources import create_table

REGION: Final = "eu-west-1"
EVENTS: Final = Path(__file__).parent / "fixtures" / "events"


def event(name: str) -> Any:
    """An event fixture (fixtures/events/NAME.json) as Lambda receives it."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def sqs_event(bodies: list[str], queue: str = "Queue", attempt: int = 1, ids: list[str] | None = None,
              receipts: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """An SQS batch of these bodies, one record each (fixtures/events/sqs_record.json)."""
    records = []
    for index, body in enumerate(bodies):
        record = event("sqs_record")
        record["messageId"] = ids[index] if ids else f"m{index}"
        record["receiptHandle"] = receipts[index] if receipts else f"r{index}"
        record["body"] = body
        record["attributes"]["ApproximateReceiveCount"] = str(attempt)
        record["eventSourceARN"] = record["eventSourceARN"].replace("QUEUE", queue)
        records.append(record)
    return {"Records": records}


# One botocore data loader for every test: moto gives each test a fresh default session, which
# would otherwise parse the services' JSON models again (~0.2 s of each test's setup).
_DATA_LOADER: Final = botocore.loaders.create_loader()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        core = botocore.session.get_session()
        core.register_component("data_loader", _DATA_LOADER)
        boto3.setup_default_session(botocore_session=core)
        yield


@pytest.fixture
def job_store(aws: None) -> DynamoJobStore:
    table = create_table(boto3.client("dynamodb", region_name=REGION), "JobsTable", "headshot-jobs-test")
    return DynamoJobStore(table)


BUCKET: Final = "headshot-data-test"
TABLE: Final = "headshot-jobs-test"


@pytest.fixture
def control_world(job_store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Bucket, webhook queue and secret in moto; the use cases over them; a handler loader.

    `load(function_logical_id, module)` sets the function's environment exactly as
    template.yaml gives it (plus the local-stack loopback switch) and imports its handler.
    """
    from headshot.settings import ControlPlaneSettings, PhotoLimits
    from headshot.storage import S3Storage
    from headshot.wiring import ControlPlane, SqsWebhookQueue, build_control_plane
    from infra.aws_resources import create_queue, function_environment

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = create_queue(sqs, "WebhookQueue", "headshot-webhooks-test")
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="headshot-webhook-secret", SecretString="whsec_aGVhZHNob3Qtd2ViaG9vay10ZXN0LWtleS0zMmJ5dGU="
    )["ARN"]
    resources: dict[str, str | list[str]] = {
        "JobsTable": TABLE, "DataBucket": BUCKET, "WebhookQueue": queue_url, "WebhookSigningSecret": secret_arn,
        "InferenceEndpoint.EndpointName": "headshot-endpoint", "WebhookAllowedHosts": ["hooks.example.com"],
    }  # fmt: skip

    def environment(logical_id: str) -> dict[str, str]:
        return function_environment(logical_id, resources) | {
            "HEADSHOT_WEBHOOK_ALLOW_LOOPBACK_HTTP": "1",
            "POWERTOOLS_TRACE_DISABLED": "1",
        }

    def load(logical_id: str, module_name: str) -> Any:
        import importlib

        for name, value in environment(logical_id).items():
            monkeypatch.setenv(name, value)
        from headshot.settings import get_control_plane_settings
        from headshot.wiring import control_plane

        get_control_plane_settings.cache_clear()
        control_plane.cache_clear()
        import sys

        # Re-import so module-level clients and settings bind to this test's moto resources.
        module = importlib.reload(sys.modules[module_name]) if module_name in sys.modules else None
        module = module or importlib.import_module(module_name)
        monkeypatch.setattr(module, "plane", plane_for(logical_id))
        return module

    def plane_for(logical_id: str) -> ControlPlane:
        settings = ControlPlaneSettings.from_env(environment(logical_id))
        return build_control_plane(
            settings, job_store, S3Storage(BUCKET), PhotoLimits(), webhooks=SqsWebhookQueue(queue_url)
        )

    return {"s3": s3, "sqs": sqs, "queue_url": queue_url, "secret_arn": secret_arn, "load": load,
            "plane_for": plane_for, "store": job_store}  # fmt: skip
