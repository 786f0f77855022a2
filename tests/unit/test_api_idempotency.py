"""Idempotency-Key on POST /v1/jobs and on regenerate (Powertools' idempotency utility on the
jobs table, moto): the same key and body answer the first answer, another body 422, another
caller's equal key is theirs alone, and a refused request is not remembered."""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest

from headshot.idempotency import DynamoIdempotentRequests
from headshot.job_store import DynamoJobStore
from headshot.jobs import JobStatus
from headshot.settings import PhotoLimits
from headshot.storage import S3Storage
from headshot.wiring import build_control_plane
from tests.fakes import FakeLambdaContext, RecordingInference
from tests.unit.test_api import BUCKET, EVENT, _openapi_validator, api, settings  # api: the fixture, re-exported below

__all__ = ["api"]


def send(
    api: ModuleType, method: str, path: str, body: Any = None, key: str | None = None, sub: str = "user-alice"
) -> tuple[int, Any]:
    event = copy.deepcopy(EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    if key is not None:
        event["headers"] = dict(event.get("headers") or {}) | {"idempotency-key": key}
    response = api.lambda_handler(event, FakeLambdaContext())
    raw = response.get("body") or ""
    return response["statusCode"], json.loads(raw) if raw else None


def owned_jobs(api: ModuleType, sub: str = "user-alice") -> list[str]:
    return [job["job_id"] for job in api.plane.list_jobs(sub)["jobs"]]


def test_a_repeated_create_with_the_same_key_answers_the_first_job(api: ModuleType) -> None:
    # Given a create sent with an Idempotency-Key
    body = {"photo_count": 2, "styles": ["studio_blue"], "client_reference": "order-7"}
    first = send(api, "POST", "/v1/jobs", body, key="create-order-7")
    # When the client sends it again (its connection dropped before the answer)
    again = send(api, "POST", "/v1/jobs", body, key="create-order-7")
    # Then the same 201 and body, and only one job exists
    assert first[0] == again[0] == 201 and again[1] == first[1]
    assert owned_jobs(api) == [first[1]["job_id"]]
    _openapi_validator("CreateJobResponse").validate(again[1])


def test_the_same_key_with_another_body_answers_422_and_creates_nothing(api: ModuleType) -> None:
    created = send(api, "POST", "/v1/jobs", {"photo_count": 1}, key="k-1")[1]
    status, body = send(api, "POST", "/v1/jobs", {"photo_count": 3}, key="k-1")
    assert (status, body["error"]["code"]) == (422, "idempotency_key_reused")
    assert owned_jobs(api) == [created["job_id"]]


def test_another_caller_with_the_same_key_gets_a_job_of_their_own(api: ModuleType) -> None:
    alice = send(api, "POST", "/v1/jobs", {}, key="shared-key")[1]
    bob = send(api, "POST", "/v1/jobs", {}, key="shared-key", sub="user-bob")[1]
    assert alice["job_id"] != bob["job_id"] and owned_jobs(api, "user-bob") == [bob["job_id"]]


def test_without_a_key_every_create_is_a_new_job(api: ModuleType) -> None:
    first, second = (send(api, "POST", "/v1/jobs", {})[1] for _ in range(2))
    assert first["job_id"] != second["job_id"]


def test_a_refused_request_is_not_remembered(api: ModuleType) -> None:
    # Given alice at her cap of active jobs (2 in these settings): a keyed create answers 429
    for _ in range(2):
        send(api, "POST", "/v1/jobs", {})
    assert send(api, "POST", "/v1/jobs", {}, key="after-cap")[0] == 429
    # When a job frees its place and she retries with the same key / Then it is created now
    api.plane.delete_job("user-alice", owned_jobs(api)[0])
    assert send(api, "POST", "/v1/jobs", {}, key="after-cap")[0] == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "spaces are not allowed", "ключ"])
def test_a_malformed_key_answers_400(api: ModuleType, key: str) -> None:
    status, body = send(api, "POST", "/v1/jobs", {}, key=key)
    assert (status, body["error"]["code"]) == (400, "invalid_request") and "Idempotency-Key" in body["error"]["message"]
    assert owned_jobs(api) == []


def test_a_repeated_regenerate_starts_one_round(
    api: ModuleType, job_store: DynamoJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an API that reaches the endpoint (recorded), and a completed job
    inference = RecordingInference()
    plane = build_control_plane(settings(), job_store, S3Storage(BUCKET), PhotoLimits(), inference=inference,
                                idempotency=DynamoIdempotentRequests("headshot-jobs-test", 3600))  # fmt: skip
    monkeypatch.setattr(api, "plane", plane)
    job_id = send(api, "POST", "/v1/jobs", {})[1]["job_id"]
    stored = job_store.get(job_id)
    assert stored is not None
    stored.photos[0].settle([], [])
    stored.photos[0].key = f"photos/{job_id}/{stored.photos[0].photo_id}.jpg"
    stored.transition(JobStatus.VALIDATING, stored.updated_at)
    stored.start_round(stored.updated_at)
    stored.transition(JobStatus.COMPLETED, stored.updated_at)
    job_store.save(stored)
    # When regenerate is sent twice with one key, then a third time with another body
    first = send(api, "POST", f"/v1/jobs/{job_id}/regenerate", {"variants": 2}, key="regen-1")
    again = send(api, "POST", f"/v1/jobs/{job_id}/regenerate", {"variants": 2}, key="regen-1")
    other = send(api, "POST", f"/v1/jobs/{job_id}/regenerate", {"variants": 3}, key="regen-1")
    # Then one round was started: both answers show round 2, and the other body is refused
    assert (first[0], first[1]["round"], again[0], again[1]["round"]) == (202, 2, 202, 2)
    after = job_store.get(job_id)
    assert after is not None and after.round == 2 and len(inference.calls) == 1
    assert (other[0], other[1]["error"]["code"]) == (422, "idempotency_key_reused")
