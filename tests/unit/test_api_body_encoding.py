"""Request bodies that are not well-formed UTF-8 JSON answer 400, never 500 (and never reach a webhook)."""

from __future__ import annotations

import base64
import copy
import json
from types import ModuleType
from typing import Any

import pytest
from api.bodies import CreateJobBody, RegenerateBody, parse, raw_body
from api.errors import ApiError

from tests.fakes import FakeLambdaContext
from tests.unit.test_api import EVENT, api  # noqa: F401 - the fixture

GOOD = '{"photo_count": 1, "client_reference": "order-7"}'


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00{",  # not UTF-8
        GOOD.encode("utf-16"),  # UTF-16 (with its BOM)
        GOOD.encode("utf-16-le"),
        GOOD.encode("utf-32"),
        "[" * 100_000 + "]" * 100_000,  # deeper than any parser's recursion
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        '{"client_reference": "\ud800"}',  # a lone surrogate in the text itself
    ],
)
def test_bodies_that_are_not_utf8_json_are_invalid_json(raw: str | bytes) -> None:
    with pytest.raises(ApiError) as refused:
        parse(CreateJobBody, raw)
    assert (refused.value.status, refused.value.code) == (400, "invalid_json")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"client_reference": "order-\\ud800"}', "client_reference"),
        ('{"client_reference": "\\udc00x"}', "client_reference"),
        ('{"webhook_url": "https://hooks.example.com/\\ud83d"}', "webhook_url"),
        ('{"styles": ["studio_gray", "\\ud800"]}', "styles.1"),
        ('{"\\ud800": 1}', ""),
    ],
)
def test_a_lone_surrogate_in_any_string_is_an_invalid_request(raw: str, field: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse(CreateJobBody, raw)
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert refused.value.message.startswith(f"{field}: ") and "UTF-8" in refused.value.message
    with pytest.raises(ApiError):
        parse(RegenerateBody, '{"styles": ["\\ud800"]}')


def test_a_surrogate_pair_is_well_formed_text() -> None:
    assert parse(CreateJobBody, '{"client_reference": "\\ud83d\\ude00"}').client_reference == "\U0001f600"
    assert parse(CreateJobBody, GOOD.encode()).client_reference == "order-7"


def test_the_raw_body_is_base64_decoded_only_when_flagged() -> None:
    assert raw_body(base64.b64encode(b"\xff").decode(), True) == b"\xff"
    assert raw_body("{}", False) == "{}" and raw_body(None, True) is None
    with pytest.raises(ApiError) as refused:
        raw_body("not base64!", True)
    assert refused.value.code == "invalid_json"


def post(api: ModuleType, body: str, base64_encoded: bool) -> tuple[int, Any]:  # noqa: F811
    event = copy.deepcopy(EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/jobs"
    event["requestContext"]["http"]["method"] = "POST"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /v1/jobs"
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    response = api.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("body", "base64_encoded", "code"),
    [
        (base64.b64encode(b'{"client_reference": "\xff"}').decode(), True, "invalid_json"),
        (base64.b64encode(GOOD.encode("utf-16")).decode(), True, "invalid_json"),
        ("[" * 100_000, False, "invalid_json"),
        ('{"client_reference": "\\ud800"}', False, "invalid_request"),
    ],
)
def test_the_api_answers_400_for_them(api: ModuleType, body: str, base64_encoded: bool, code: str) -> None:  # noqa: F811
    status, answer = post(api, body, base64_encoded)
    assert (status, answer["error"]["code"]) == (400, code)


def test_a_base64_encoded_utf8_body_is_accepted(api: ModuleType) -> None:  # noqa: F811
    status, _ = post(api, base64.b64encode(GOOD.encode()).decode(), True)
    assert status == 201
