"""Job routes an app developer expects (issue 11 §3): Retry-After on 429, 422 for values out of
range, the caller's job list and cancel — through the api function's real handler on moto."""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest

from tests.fakes import FakeLambdaContext
from tests.unit.test_api import EVENT, _openapi_validator, api  # api: the fixture, re-exported below

__all__ = ["api"]


def respond(
    api: ModuleType, method: str, path: str, body: Any = None, sub: str = "user-alice", query: str = ""
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of one API Gateway v2 request."""
    event = copy.deepcopy(EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&")) if query else None
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    response = api.lambda_handler(event, FakeLambdaContext())
    raw = response.get("body") or ""
    return response["statusCode"], dict(response.get("headers") or {}), json.loads(raw) if raw else None


def test_the_active_job_cap_answers_429_with_retry_after_in_seconds(api: ModuleType) -> None:
    # Given a caller at the cap (2 active jobs)
    assert respond(api, "POST", "/v1/jobs", {})[0] == 201
    assert respond(api, "POST", "/v1/jobs", {})[0] == 201
    # When they create one more
    status, headers, body = respond(api, "POST", "/v1/jobs", {})
    # Then 429 with Retry-After: a whole number of seconds
    assert status == 429 and body["error"]["code"] == "too_many_active_jobs"
    assert headers["Retry-After"].isdigit() and int(headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "body",
    [
        {"photo_count": 0},
        {"photo_count": 21},
        {"variants": 0},
        {"variants": 9},
        {"styles": []},
        {"styles": ["studio_gray", "studio_gray"]},
        {"client_reference": "x" * 129},
    ],
)
def test_a_well_formed_value_out_of_range_answers_422(api: ModuleType, body: dict[str, Any]) -> None:
    # When a body of the right shape and types carries a value out of its range
    status, _, got = respond(api, "POST", "/v1/jobs", body)
    # Then 422 out_of_range naming the field (the spec's Unprocessable), not 400
    assert (status, got["error"]["code"]) == (422, "out_of_range")
    assert next(iter(body)) in got["error"]["message"]


@pytest.mark.parametrize("body", [{"photo_count": True}, {"photo_count": "3"}, {"surprise": 1}, "[1]"])
def test_a_malformed_body_still_answers_400(api: ModuleType, body: Any) -> None:
    status, _, got = respond(api, "POST", "/v1/jobs", body)
    assert (status, got["error"]["code"]) == (400, "invalid_request")


def test_a_regenerate_variants_out_of_range_answers_422(api: ModuleType) -> None:
    _, _, created = respond(api, "POST", "/v1/jobs", {})
    status, _, got = respond(api, "POST", f"/v1/jobs/{created['job_id']}/regenerate", {"variants": 99})
    assert (status, got["error"]["code"]) == (422, "out_of_range")


def test_get_jobs_pages_through_the_callers_jobs_on_the_by_owner_index(api: ModuleType) -> None:
    # Given alice has three jobs (the cap freed by deleting each) and bob one
    alice: list[str] = []
    for _ in range(3):
        status, _, created = respond(api, "POST", "/v1/jobs", {})
        assert status == 201
        alice.insert(0, created["job_id"])
        assert respond(api, "DELETE", f"/v1/jobs/{created['job_id']}")[0] == 204
    assert respond(api, "POST", "/v1/jobs", {}, sub="user-bob")[0] == 201
    # When alice lists them two at a time
    status, _, first = respond(api, "GET", "/v1/jobs", query="limit=2")
    assert status == 200 and first["next_cursor"]
    _openapi_validator("JobPage").validate(first)
    status, _, second = respond(api, "GET", "/v1/jobs", query=f"limit=2&cursor={first['next_cursor']}")
    # Then she gets her three, newest first, and nothing of bob's; the last page has no cursor
    assert status == 200 and second["next_cursor"] is None
    assert [job["job_id"] for job in first["jobs"] + second["jobs"]] == alice
    # And bob may not use her cursor
    status, _, refused = respond(api, "GET", "/v1/jobs", sub="user-bob", query=f"cursor={first['next_cursor']}")
    assert (status, refused["error"]["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize(("query", "status", "code"), [("limit=0", 422, "out_of_range"),
                         ("limit=101", 422, "out_of_range"), ("limit=ten", 400, "invalid_request"),
                         ("cursor=xyz", 400, "invalid_cursor")])  # fmt: skip
def test_get_jobs_refuses_a_bad_limit_or_cursor(api: ModuleType, query: str, status: int, code: str) -> None:
    got_status, _, got = respond(api, "GET", "/v1/jobs", query=query)
    assert (got_status, got["error"]["code"]) == (status, code)


def test_cancel_stops_an_active_job_once_and_is_owner_only(api: ModuleType) -> None:
    # Given a job of alice's awaiting its upload
    _, _, created = respond(api, "POST", "/v1/jobs", {})
    path = f"/v1/jobs/{created['job_id']}/cancel"
    # When bob cancels it / Then it is not found for him and nothing changes
    status, _, got = respond(api, "POST", path, sub="user-bob")
    assert (status, got["error"]["code"]) == (404, "not_found")
    # When alice cancels it / Then 200 with the job, cancelled for a truthful reason, as documented
    status, _, job = respond(api, "POST", path)
    assert status == 200 and job["status"] == "cancelled" and job["error"]["code"] == "cancelled_by_user"
    _openapi_validator("Job").validate(job)
    assert respond(api, "GET", f"/v1/jobs/{created['job_id']}")[2]["status"] == "cancelled"
    # And a second cancel is a conflict: the job is no longer active
    status, _, got = respond(api, "POST", path)
    assert (status, got["error"]["code"]) == (409, "job_not_active")
