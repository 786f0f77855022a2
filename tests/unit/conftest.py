"""Fixtures for control-plane unit tests: moto's mock_aws with resources built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import boto3
import pytest
from moto import mock_aws

from headshot.job_store import DynamoJobStore
from infra.aws_resources import create_table

REGION: Final = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.fixture
def job_store(aws: None) -> DynamoJobStore:
    table = create_table(boto3.client("dynamodb", region_name=REGION), "JobsTable", "headshot-jobs-test")
    return DynamoJobStore(table)
