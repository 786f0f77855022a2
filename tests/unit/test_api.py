"""The api function through its real handler: API Gateway v2 events in, HTTP responses out."""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from headshot.idempotency import DynamoIdempotentRequests
from headshot.job_store import DynamoJobStore
from headshot.jobs import JobStatus
from headshot.settings import ControlPlaneSettings, PhotoLimits
from headshot.storage import S3Storage
from headshot.wiring import build_control_plane
from infra.aws_resources import function_environment
from tests.fakes import FakeLambdaContext
from tests.unit.conftest import REGION

EVENT = json.loads((Path(__file__).parent / "fixtures" / "events" / "http_api_request.json").read_text())
BUCKET = "headshot-data-test"


def settings(**overrides: Any) -> ControlPlaneSettings:
    env = {"JOBS_TABLE": "headshot-jobs-test", "DATA_BUCKET": BUCKET, "MAX_ACTIVE_JOBS_PER_USER": "2",
           "WEBHOOK_ALLOWED_HOSTS": "hooks.example.com"} | overrides  # fmt: skip
    return ControlPlaneSettings.from_env(env)


@pytest.fixture
def api(job_store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    environment = function_environment(
        "ApiFunction",
        {
            "JobsTable": "headshot-jobs-test",
            "DataBucket": BUCKET,
            "InferenceEndpoint.EndpointName": "endpoint",
            "WebhookQueue": "https://sqs.eu-west-1.amazonaws.com/1/webhooks",
            "WebhookSigningSecret": "arn:secret",
        },
    )
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    module = importlib.import_module("api.app")
    plane = build_control_plane(
        settings(), job_store, S3Storage(BUCKET), PhotoLimits(max_bytes=5_000_000),
        idempotency=DynamoIdempotentRequests("headshot-jobs-test", 3600),
    )  # fmt: skip
    monkeypatch.setattr(module, "plane", plane)
    yield module


def call(api: ModuleType, method: str, path: str, body: Any = None, sub: str | None = "user-alice") -> tuple[int, Any]:
    event = copy.deepcopy(EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    if sub is None:
        claims.pop("sub")
    else:
        claims["sub"] = sub
    response = api.lambda_handler(event, FakeLambdaContext())
    raw = response.get("body") or ""
    return response["statusCode"], json.loads(raw) if raw else None


def test_create_job_returns_presigned_posts_with_conditions(api: ModuleType) -> None:
    # Given a valid body / When POST /v1/jobs
    status, body = call(api, "POST", "/v1/jobs", {"photo_count": 2, "styles": ["studio_blue"], "variants": 2})
    # Then 201, one presigned POST per photo, on a server-chosen key, with size and type conditions
    assert status == 201
    assert body["status"] == "awaiting_upload" and len(body["uploads"]) == 2
    upload = body["uploads"][0]
    assert upload["fields"]["key"] == f"uploads/{body['job_id']}/{upload['photo_id']}"
    policy = json.loads(__import__("base64").b64decode(upload["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 5_000_000] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert {"key": upload["fields"]["key"]} in conditions


def test_get_job_is_owner_only(api: ModuleType) -> None:
    _, created = call(api, "POST", "/v1/jobs", {})
    status, job = call(api, "GET", f"/v1/jobs/{created['job_id']}")
    assert status == 200 and job["job_id"] == created["job_id"] and job["photos"][0]["status"] == "pending"
    # Another user gets exactly what a missing job gets
    other = call(api, "GET", f"/v1/jobs/{created['job_id']}", sub="user-mallory")
    missing = call(api, "GET", "/v1/jobs/job_doesnotexist")
    assert other == missing == (404, {"error": {"code": "not_found", "message": "no such job"}})


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ("[1, 2]", 400, "invalid_request"),
        ({"photo_count": 0}, 422, "out_of_range"),
        ({"photo_count": 21}, 422, "out_of_range"),
        ({"photo_count": True}, 400, "invalid_request"),
        ({"variants": 9}, 422, "out_of_range"),
        ({"styles": []}, 422, "out_of_range"),
        ({"styles": ["studio_gray", "studio_gray"]}, 422, "out_of_range"),
        ({"styles": ["neon_party"]}, 422, "unknown_style"),
        ({"client_reference": "x" * 129}, 422, "out_of_range"),
        ({"surprise": 1}, 400, "invalid_request"),
        ({"webhook_url": "http://hooks.example.com/h"}, 422, "invalid_webhook_url"),
        ({"webhook_url": "https://evil.example.net/h"}, 422, "invalid_webhook_url"),
        ({"webhook_url": "https://169.254.169.254/latest"}, 422, "invalid_webhook_url"),
    ],
)
def test_bad_bodies_get_a_clear_error(api: ModuleType, body: Any, status: int, code: str) -> None:
    got_status, got = call(api, "POST", "/v1/jobs", body)
    assert (got_status, got["error"]["code"]) == (status, code)
    assert got["error"]["message"] and "Traceback" not in got["error"]["message"]


def test_active_job_limit_answers_429(api: ModuleType) -> None:
    assert call(api, "POST", "/v1/jobs", {})[0] == 201
    assert call(api, "POST", "/v1/jobs", {})[0] == 201
    status, body = call(api, "POST", "/v1/jobs", {})
    assert status == 429 and body["error"]["code"] == "too_many_active_jobs"
    assert call(api, "POST", "/v1/jobs", {}, sub="user-bob")[0] == 201  # limits are per user


def test_missing_subject_is_unauthorized(api: ModuleType) -> None:
    status, body = call(api, "POST", "/v1/jobs", {}, sub=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_delete_erases_objects_and_personal_data(api: ModuleType, job_store: DynamoJobStore) -> None:
    # Given a job with an uploaded original and a kept photo
    _, created = call(api, "POST", "/v1/jobs", {"webhook_url": "https://hooks.example.com/h", "client_reference": "me"})
    job_id, photo_id = created["job_id"], created["uploads"][0]["photo_id"]
    s3 = boto3.client("s3", region_name=REGION)
    for key in (f"uploads/{job_id}/{photo_id}", f"photos/{job_id}/{photo_id}.jpg", f"results/{job_id}/r1/a.png"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="photos/job_someoneelse/p.jpg", Body=b"x")
    # SageMaker's own objects for two rounds (output and failure), known to the job by exact key
    sagemaker_keys = ["async-output/r1.out", "async-failure/r1-error.out", "async-output/r2.out"]
    for key in sagemaker_keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    job = job_store.get(job_id)
    assert job is not None
    job.inference_objects = [f"s3://{BUCKET}/{key}" for key in sagemaker_keys[:2]]
    job.output_location = f"s3://{BUCKET}/{sagemaker_keys[2]}"
    job_store.save(job)
    # When the owner deletes it (twice: DELETE is repeatable)
    assert call(api, "DELETE", f"/v1/jobs/{job_id}") == (204, None)
    assert call(api, "DELETE", f"/v1/jobs/{job_id}") == (204, None)
    # Then none of its objects remain, other jobs' do, and the record keeps nothing personal
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["photos/job_someoneelse/p.jpg"]
    job = job_store.get(job_id)
    assert job is not None and job.status is JobStatus.DELETED
    assert job.webhook_url is None and job.client_reference is None
    assert call(api, "GET", f"/v1/jobs/{job_id}")[1]["status"] == "deleted"


def test_delete_of_another_users_job_is_404_and_changes_nothing(api: ModuleType, job_store: DynamoJobStore) -> None:
    _, created = call(api, "POST", "/v1/jobs", {})
    assert call(api, "DELETE", f"/v1/jobs/{created['job_id']}", sub="user-mallory")[0] == 404
    job = job_store.get(created["job_id"])
    assert job is not None and job.status is JobStatus.AWAITING_UPLOAD


def test_styles_catalogue(api: ModuleType) -> None:
    status, body = call(api, "GET", "/v1/styles")
    assert status == 200
    assert {s["style_id"] for s in body["styles"]} == {"studio_gray", "studio_white", "studio_blue", "office_blur"}


def test_regenerate_before_completion_is_a_conflict(api: ModuleType) -> None:
    _, created = call(api, "POST", "/v1/jobs", {})
    status, body = call(api, "POST", f"/v1/jobs/{created['job_id']}/regenerate", {})
    assert status == 409 and body["error"]["code"] == "not_regenerable"


def test_unknown_route_is_a_json_404(api: ModuleType) -> None:
    status, body = call(api, "GET", "/v1/nothing")
    assert status == 404 and body["error"]["code"] == "not_found"


def _openapi_validator(schema_name: str) -> Any:
    import jsonschema
    import yaml

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_responses_match_the_openapi_document(api: ModuleType, job_store: DynamoJobStore) -> None:
    # Given a created job, then the same job completed with a result and a delivery record
    status, created = call(api, "POST", "/v1/jobs", {"photo_count": 2, "client_reference": "order-7"})
    assert status == 201
    _openapi_validator("CreateJobResponse").validate(created)
    _openapi_validator("Job").validate(call(api, "GET", f"/v1/jobs/{created['job_id']}")[1])
    job = job_store.get(created["job_id"])
    assert job is not None
    from headshot.jobs import ResultImage

    job.transition(JobStatus.VALIDATING, job.updated_at)
    job.start_round(job.updated_at)
    job.results = [
        ResultImage("img_1", "studio_gray", f"results/{job.job_id}/r1/img_1.jpg", 3, {"identity_match": True})
    ]
    job.transition(JobStatus.COMPLETED, job.updated_at)
    job.deliveries["evt_1"] = {"type": "job.completed", "status": "delivered", "attempts": 1, "http_status": 200,
                               "error_code": None, "at": "2026-11-21T05:00:00.000Z"}  # fmt: skip
    job_store.save(job)
    # When read through the API / Then every body matches its documented schema
    _openapi_validator("Job").validate(call(api, "GET", f"/v1/jobs/{job.job_id}")[1])
    _openapi_validator("StyleCatalogue").validate(call(api, "GET", "/v1/styles")[1])
    _openapi_validator("Error").validate(call(api, "POST", "/v1/jobs", {"photo_count": 99})[1])
    _openapi_validator("Error").validate(call(api, "GET", "/v1/jobs/job_missing")[1])


def test_regenerate_starts_a_new_round_from_the_accepted_photos(
    api: ModuleType, job_store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a completed job with one accepted photo, and an API that can reach the endpoint (moto)
    from headshot.inference import SageMakerAsyncClient
    from headshot.jobs import PhotoStatus

    plane = build_control_plane(
        settings(), job_store, S3Storage(BUCKET), PhotoLimits(), inference=SageMakerAsyncClient("endpoint", 3600, 900)
    )
    monkeypatch.setattr(api, "plane", plane)
    _, created = call(api, "POST", "/v1/jobs", {"styles": ["studio_gray"]})
    job = job_store.get(created["job_id"])
    assert job is not None
    job.photos[0].status = PhotoStatus.ACCEPTED
    job.photos[0].key = f"photos/{job.job_id}/{job.photos[0].photo_id}.jpg"
    job.transition(JobStatus.VALIDATING, job.updated_at)
    job.start_round(job.updated_at)
    job.transition(JobStatus.COMPLETED, job.updated_at)
    job_store.save(job)
    # When the owner asks for a new round in other styles
    status, body = call(api, "POST", f"/v1/jobs/{job.job_id}/regenerate", {"styles": ["studio_blue"], "variants": 2})
    # Then 202 with round 2 queued and invoked, its request written, and a second call conflicts
    assert status == 202 and body["status"] == "queued" and body["round"] == 2
    assert body["styles"] == ["studio_blue"] and body["variants"] == 2
    stored = job_store.get(job.job_id)
    assert stored is not None and stored.inference_invoked and stored.inference_id == f"{job.job_id}-r2"
    s3 = boto3.client("s3", region_name=REGION)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"requests/{job.job_id}/r2.json")["Body"].read())
    assert manifest["round"] == 2 and manifest["styles"] == ["studio_blue"] and len(manifest["photos"]) == 1
    assert call(api, "POST", f"/v1/jobs/{job.job_id}/regenerate", {})[0] == 409
