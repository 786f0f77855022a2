"""DELETE /v1/me through the api function's real handler on moto: the caller's jobs, objects and
records are gone when it answers, another user's are not, and the body is the documented one."""

from __future__ import annotations

from types import ModuleType

import boto3

from tests.unit.conftest import REGION
from tests.unit.test_api import BUCKET, _openapi_validator, api  # api: the fixture, re-exported below
from tests.unit.test_api_job_routes import respond

__all__ = ["api"]


def keys_of(job_id: str) -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    found = []
    for prefix in ("uploads/", "photos/", "requests/", "results/"):
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}{job_id}/")
        found += [item["Key"] for item in listed.get("Contents", [])]
    return found


def test_delete_me_erases_every_job_object_and_record_of_the_caller(api: ModuleType) -> None:
    # Given alice has two jobs with objects (one of them deleted before) and bob one
    s3 = boto3.client("s3", region_name=REGION)
    alice = [respond(api, "POST", "/v1/jobs", {})[2]["job_id"] for _ in range(2)]
    bob = respond(api, "POST", "/v1/jobs", {}, sub="user-bob")[2]["job_id"]
    for job_id in [*alice, bob]:
        s3.put_object(Bucket=BUCKET, Key=f"photos/{job_id}/p.jpg", Body=b"face")
        s3.put_object(Bucket=BUCKET, Key=f"results/{job_id}/r1/r1-studio_gray-01.png", Body=b"headshot")
    assert respond(api, "DELETE", f"/v1/jobs/{alice[0]}")[0] == 204
    # When alice asks for her erasure
    status, _, body = respond(api, "DELETE", "/v1/me")
    # Then 200 with the documented body once it is done: no object, no record of hers is left
    assert status == 200 and body["erased_jobs"] == 2
    _openapi_validator("UserErasure").validate(body)
    assert [key for job_id in alice for key in keys_of(job_id)] == []
    assert [respond(api, "GET", f"/v1/jobs/{job_id}")[0] for job_id in alice] == [404, 404]
    assert respond(api, "GET", "/v1/jobs")[2]["jobs"] == []
    # And bob's job and objects are untouched; a second erasure finds nothing more
    assert respond(api, "GET", f"/v1/jobs/{bob}", sub="user-bob")[0] == 200 and len(keys_of(bob)) == 2
    assert respond(api, "DELETE", "/v1/me")[2]["erased_jobs"] == 0
