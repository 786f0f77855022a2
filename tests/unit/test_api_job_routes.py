"""Job routes an app developer expects (issue 11 §3): Retry-After on 429, 422 for values out of
range, the caller's job list and cancel — through the api function's real handler on moto."""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest

from tests.fakes import FakeLambdaContext
from tests.unit.test_api import EVENT, api  # the fixture, re-exported below

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
