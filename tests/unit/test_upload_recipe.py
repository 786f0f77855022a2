"""The upload recipe: the presigned POST's fields satisfy every condition of its own policy, so a
client that sends the fields as given, then the file, is accepted by S3."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3

from headshot.storage import S3Storage
from tests.unit.conftest import REGION

BUCKET = "headshot-data-test"


def test_every_field_the_policy_needs_is_returned(aws: None) -> None:
    # Given the data bucket
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    # When an upload is presigned
    post = S3Storage(BUCKET).presign_upload(
        "uploads/job_1/ph_1", 5_000_000, datetime(2026, 11, 21, tzinfo=UTC), timedelta(minutes=15)
    )
    fields = post.fields
    policy = json.loads(base64.b64decode(fields["policy"]))
    # Then each condition on a form field is met by a returned field (the file's size is the file's)
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            if name == "bucket":
                continue
            assert fields[name] == value, name
        elif condition[0] == "starts-with":
            name = condition[1].removeprefix("$")
            assert name in fields, f"the policy requires {name} but the recipe does not return it"
            assert fields[name].startswith(condition[2]), name
        else:
            assert condition[0] == "content-length-range" and condition[1:] == [1, 5_000_000]
    # And the type is an image type the client may replace with its own image/* type
    assert fields["Content-Type"] == "image/jpeg" and fields["key"] == "uploads/job_1/ph_1"
