"""The validator function through its real handler: SQS-wrapped S3 events in, job state out."""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from headshot.checks import PhotoChecker
from headshot.inference import InferenceClient, Invocation, SageMakerAsyncClient
from headshot.job_store import DynamoJobStore
from headshot.jobs import JobStatus, PhotoStatus
from headshot.settings import ControlPlaneSettings, PhotoLimits
from headshot.storage import S3Storage
from headshot.usecases.create_job import NewJob
from headshot.wiring import ControlPlane, SqsWebhookQueue, build_control_plane
from infra.aws_resources import create_queue, function_environment
from tests.fakes import FakeLambdaContext
from tests.support import images
from tests.unit.conftest import EVENTS, REGION

EVENT = json.loads((EVENTS / "sqs_s3_upload.json").read_text())
BUCKET = "headshot-data-test"
LIMIT = 2_000_000


class CountingInference:
    """Our own InferenceClient interface, wrapping the real SageMaker adapter (moto) to count calls."""

    def __init__(self, inner: InferenceClient) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def invoke(self, input_location: str, inference_id: str) -> Invocation:
        self.calls.append((input_location, inference_id))
        return self.inner.invoke(input_location, inference_id)


@pytest.fixture
def world(
    job_store: DynamoJobStore, checker: PhotoChecker, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sqs = boto3.client("sqs", region_name=REGION)
    webhook_queue = create_queue(sqs, "WebhookQueue", "headshot-webhooks-test")
    environment = function_environment(
        "OnUploadFunction",
        {"JobsTable": "headshot-jobs-test", "DataBucket": BUCKET, "WebhookQueue": webhook_queue,
         "InferenceEndpoint.EndpointName": "headshot-endpoint"},
    )  # fmt: skip
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    module = importlib.import_module("on_upload.app")
    settings = ControlPlaneSettings.from_env(environment | {"WEBHOOK_ALLOWED_HOSTS": "hooks.example.com"})
    inference = CountingInference(SageMakerAsyncClient("headshot-endpoint", 3600, 900))
    plane = build_control_plane(
        settings,
        job_store,
        S3Storage(BUCKET),
        PhotoLimits(max_bytes=LIMIT),
        inference=inference,
        webhooks=SqsWebhookQueue(webhook_queue),
        checker_factory=lambda: checker,
    )
    monkeypatch.setattr(module, "plane", plane)
    yield {"app": module, "plane": plane, "s3": s3, "sqs": sqs, "webhooks": webhook_queue, "inference": inference}


def new_job(world: dict[str, Any], photos: int = 1) -> dict[str, Any]:
    plane: ControlPlane = world["plane"]
    created: dict[str, Any] = plane.create_job(
        "user-alice", NewJob(photo_count=photos, webhook_url="https://hooks.example.com/h")
    )
    return created


def upload(world: dict[str, Any], job: dict[str, Any], index: int, data: bytes) -> str:
    key = f"uploads/{job['job_id']}/{job['uploads'][index]['photo_id']}"
    world["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)
    return key


def sqs_event(*keys: str) -> dict[str, Any]:
    records = []
    for number, key in enumerate(keys):
        record = copy.deepcopy(EVENT["Records"][0])
        record["messageId"] = f"msg-{number}"
        # S3 URL-encodes keys in notifications; the handler must decode them.
        record["body"] = record["body"].replace("KEY", quote(key, safe="/").replace("_", "%5F"))
        records.append(record)
    return {"Records": records}


def handle(world: dict[str, Any], *keys: str) -> dict[str, Any]:
    response: dict[str, Any] = world["app"].lambda_handler(sqs_event(*keys), FakeLambdaContext())
    return response


def objects(world: dict[str, Any]) -> list[str]:
    return sorted(o["Key"] for o in world["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", []))


def webhook_messages(world: dict[str, Any]) -> list[dict[str, Any]]:
    got = world["sqs"].receive_message(QueueUrl=world["webhooks"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_good_photo_queues_exactly_one_inference(world: dict[str, Any], job_store: DynamoJobStore) -> None:
    # Given a one-photo job whose photo was uploaded
    job = new_job(world)
    key = upload(world, job, 0, images.with_gps(images.astronaut()))
    # When the upload event arrives, and then arrives again (S3 and SQS both deliver at least once)
    assert handle(world, key) == {"batchItemFailures": []}
    assert handle(world, key) == {"batchItemFailures": []}
    # Then the photo is accepted, its normalised copy kept, the original gone, one request written,
    # and exactly one inference invoked for round 1
    stored = job_store.get(job["job_id"])
    assert stored is not None
    assert stored.status is JobStatus.QUEUED and stored.round == 1 and stored.inference_invoked
    assert stored.photos[0].status is PhotoStatus.ACCEPTED and stored.photos[0].embedding is not None
    photo_id = job["uploads"][0]["photo_id"]
    assert objects(world) == [f"photos/{job['job_id']}/{photo_id}.jpg", f"requests/{job['job_id']}/r1.json"]
    assert world["inference"].calls == [(f"s3://{BUCKET}/requests/{job['job_id']}/r1.json", f"{job['job_id']}-r1")]
    assert stored.output_location and stored.output_location.startswith("s3://")
    # The kept copy carries no EXIF/GPS, and the manifest follows the inference contract
    kept = world["s3"].get_object(Bucket=BUCKET, Key=f"photos/{job['job_id']}/{photo_id}.jpg")["Body"].read()
    assert b"Exif" not in kept and b"TestCam" not in kept
    manifest = json.loads(world["s3"].get_object(Bucket=BUCKET, Key=f"requests/{job['job_id']}/r1.json")["Body"].read())
    assert manifest["photos"] == [f"s3://{BUCKET}/photos/{job['job_id']}/{photo_id}.jpg"]
    assert manifest["output_prefix"] == f"s3://{BUCKET}/results/{job['job_id']}/r1/"
    assert len(manifest["reference"]["embedding_mean"]) == 128
    assert {"job_id", "round", "styles", "variants", "seed"} <= set(manifest)


def test_all_photos_rejected_rejects_the_job_and_sends_the_webhook(
    world: dict[str, Any], job_store: DynamoJobStore
) -> None:
    # Given a two-photo job: a GIF and random bytes
    job = new_job(world, photos=2)
    keys = [upload(world, job, 0, images.animated("GIF")), upload(world, job, 1, images.random_bytes())]
    # When both events arrive in one batch
    assert handle(world, *keys) == {"batchItemFailures": []}
    # Then the job is rejected with each photo's reason, nothing of the photos is kept, no inference ran
    stored = job_store.get(job["job_id"])
    assert stored is not None and stored.status is JobStatus.REJECTED
    assert [[r.code.value for r in p.reasons] for p in stored.photos] == [["unsupported_format"], ["corrupt_image"]]
    assert stored.error is not None and stored.error.code == "photos_rejected"
    assert objects(world) == [] and world["inference"].calls == []
    (message,) = webhook_messages(world)
    assert message["type"] == "job.rejected" and message["job_id"] == job["job_id"]


def test_oversize_upload_is_caught_by_the_validator(world: dict[str, Any], job_store: DynamoJobStore) -> None:
    # Given an upload over the limit (S3's POST conditions are not trusted alone)
    job = new_job(world)
    key = upload(world, job, 0, b"\xff\xd8\xff" + b"\x00" * (LIMIT + 10))
    handle(world, key)
    stored = job_store.get(job["job_id"])
    assert stored is not None and stored.photos[0].reasons[0].code.value == "file_too_large"
    assert stored.status is JobStatus.REJECTED and objects(world) == []


def test_duplicate_photo_in_a_set_is_rejected_and_the_rest_proceeds(
    world: dict[str, Any], job_store: DynamoJobStore
) -> None:
    job = new_job(world, photos=2)
    portrait = images.astronaut()
    keys = [
        upload(world, job, 0, images.encode(portrait)),
        upload(world, job, 1, images.encode(portrait, "JPEG", quality=85)),
    ]
    handle(world, keys[0])
    stored = job_store.get(job["job_id"])
    assert stored is not None and stored.status is JobStatus.VALIDATING  # one photo still pending
    handle(world, keys[1])
    stored = job_store.get(job["job_id"])
    assert stored is not None and stored.status is JobStatus.QUEUED
    assert [p.status for p in stored.photos] == [PhotoStatus.ACCEPTED, PhotoStatus.REJECTED]
    assert stored.photos[1].reasons[0].code.value == "duplicate_photo"
    # The rejected photo's kept copy is removed; only the accepted one feeds inference
    assert f"photos/{job['job_id']}/{job['uploads'][1]['photo_id']}.jpg" not in objects(world)
    assert len(world["inference"].calls) == 1


def test_late_event_after_settlement_changes_nothing(world: dict[str, Any], job_store: DynamoJobStore) -> None:
    job = new_job(world)
    key = upload(world, job, 0, images.encode(images.astronaut()))
    handle(world, key)
    before = job_store.get(job["job_id"])
    # A re-upload to the same presigned key after the job moved on
    upload(world, job, 0, images.animated("GIF"))
    handle(world, key)
    after = job_store.get(job["job_id"])
    assert before is not None and after is not None
    assert (after.status, after.version, after.photos[0].status) == (
        before.status,
        before.version,
        before.photos[0].status,
    )
    assert key not in objects(world)  # the late original does not linger
    assert len(world["inference"].calls) == 1


def test_unknown_job_and_foreign_keys_are_ignored(world: dict[str, Any]) -> None:
    world["s3"].put_object(Bucket=BUCKET, Key="uploads/job_nope/ph_nope", Body=b"x")
    assert handle(world, "uploads/job_nope/ph_nope", "uploads/too/many/parts") == {"batchItemFailures": []}
    assert objects(world) == []


def test_a_fault_fails_only_its_own_message(world: dict[str, Any], job_store: DynamoJobStore) -> None:
    # Given two jobs: one upload is present, the other's object is missing (a fault, not a bad photo)
    good, broken = new_job(world), new_job(world)
    good_key = upload(world, good, 0, images.encode(images.astronaut()))
    broken_key = f"uploads/{broken['job_id']}/{broken['uploads'][0]['photo_id']}"
    # When both arrive in one batch
    response = handle(world, good_key, broken_key)
    # Then only the broken message is reported for retry (then the DLQ), the good one is done
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    stored = job_store.get(good["job_id"])
    assert stored is not None and stored.status is JobStatus.QUEUED


def test_a_delete_racing_the_validator_leaves_no_face_behind(
    world: dict[str, Any], job_store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a two-photo job whose owner DELETEs it while the validator checks the first photo
    job = new_job(world, photos=2)
    key = upload(world, job, 0, images.encode(images.astronaut()))
    save = job_store.save
    pending = [True]

    def delete_first(stored_job: Any) -> None:
        if pending and pending.pop():
            world["plane"].delete_job("user-alice", job["job_id"])
        save(stored_job)

    monkeypatch.setattr(job_store, "save", delete_first)
    # When the upload event is handled (and redelivered)
    assert handle(world, key) == {"batchItemFailures": []}
    assert handle(world, key) == {"batchItemFailures": []}
    # Then the DynamoDB record keeps no biometric evidence and no photo key, and no object is left
    stored = job_store.get(job["job_id"])
    assert stored is not None and stored.status is JobStatus.DELETED
    assert all(p.embedding is None and p.chip_signature is None and p.skin_lab is None and p.key is None
               for p in stored.photos)  # fmt: skip
    assert objects(world) == [] and world["inference"].calls == []
