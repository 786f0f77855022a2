"""The HTTP API emulator over real HTTP: routing, the JWT authorizer, v2.0 events in, Lambda responses out.

First against a fake function that records the events it gets, then against the real `api` handler
(functions/api/app.py) over moto.
"""

from __future__ import annotations

import base64
import copy
import http.client
import importlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import boto3
import pytest
import yaml
from moto import mock_aws

from infra.aws_resources import create_table, function_environment
from infra.local.apigw import (
    MAX_PAYLOAD_BYTES,
    HttpApiEmulator,
    InvalidToken,
    LocalJwt,
    Route,
    api_event,
    match_route,
    routes_from_template,
)
from infra.template_loader import load_template
from tests.fakes import FakeLambdaContext

pytestmark = pytest.mark.integration

REPO: Final = Path(__file__).resolve().parents[2]
FIXTURE_EVENT: Final = json.loads((REPO / "tests/unit/fixtures/events/http_api_request.json").read_text())
REGION: Final = "eu-west-1"
TABLE: Final = "headshot-jobs-http-api"
BUCKET: Final = "headshot-data-http-api"
HTTP_METHODS: Final = ("get", "put", "post", "delete", "patch")


def documented_routes() -> set[str]:
    """The API's operations as docs/openapi.yaml lists them ("METHOD /path")."""
    document = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


# A direct opener: a proxy from the environment must not sit between the tests and 127.0.0.1.
_OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- helpers


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers or {})
    if data is not None and not request.has_header("Content-type"):
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


class FakeFunction:
    """A stand-in function: records each (function, event) and answers `response` (or raises `error`)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.response: dict[str, Any] = {"statusCode": 200, "headers": {"content-type": "application/json"},
                                         "body": json.dumps({"ok": True})}  # fmt: skip
        self.error: Exception | None = None

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((function, copy.deepcopy(event)))
        if self.error is not None:
            raise self.error
        return self.response

    @property
    def event(self) -> dict[str, Any]:
        assert len(self.calls) == 1, f"expected one invocation, got {len(self.calls)}"
        return self.calls[0][1]


@pytest.fixture(scope="module")
def jwt() -> LocalJwt:
    return LocalJwt.generate()


@pytest.fixture(scope="module")
def intruder() -> LocalJwt:
    """Same issuer and audience, another key."""
    return LocalJwt.generate()


@pytest.fixture(scope="module")
def template_routes() -> list[Route]:
    return routes_from_template(load_template(REPO / "template.yaml"))


@pytest.fixture
def fake() -> FakeFunction:
    return FakeFunction()


@pytest.fixture
def gateway(template_routes: list[Route], fake: FakeFunction, jwt: LocalJwt) -> Iterator[HttpApiEmulator]:
    emulator = HttpApiEmulator(template_routes, fake, jwt)
    emulator.start()
    yield emulator
    emulator.stop()


# --------------------------------------------------------------------------- routes and tokens


def test_routes_come_from_the_template(template_routes: list[Route]) -> None:
    # Given template.yaml / When its HttpApi events are read
    # Then every documented API route is there, served by ApiFunction, behind the JWT authorizer
    assert {route.route_key for route in template_routes} == documented_routes()
    assert {route.function for route in template_routes} == {"ApiFunction"}
    assert all(route.requires_jwt for route in template_routes)


def test_the_most_specific_route_wins() -> None:
    # Given overlapping routes
    routes = [Route("GET", "/items/{id}", "Param"), Route("GET", "/items/special", "Literal"),
              Route("GET", "/items/{proxy+}", "Greedy"), Route("ANY", "/items/special", "Any"),
              Route("ANY", "$default", "Default")]  # fmt: skip

    def pick(method: str, path: str) -> tuple[str, dict[str, str]]:
        found = match_route(routes, method, path)
        assert found is not None
        return found[0].function, found[1]

    # When / Then literal beats a parameter, a parameter beats greedy, a method beats ANY, $default is last
    assert pick("GET", "/items/special") == ("Literal", {})
    assert pick("GET", "/items/42") == ("Param", {"id": "42"})
    assert pick("GET", "/items/a/b%20c") == ("Greedy", {"proxy": "a/b c"})
    assert pick("POST", "/items/special") == ("Any", {})
    assert pick("POST", "/elsewhere") == ("Default", {})
    assert match_route(routes[:3], "POST", "/items/42") is None


def test_tokens_round_trip_through_json(jwt: LocalJwt) -> None:
    # Given the JWT settings written out for another process
    restored = LocalJwt.from_json(json.loads(json.dumps(jwt.to_json())))
    # When that process mints a token / Then this one accepts it, and the key stays out of repr
    assert restored == jwt
    claims = jwt.verify(restored.token("user-alice", groups=["a", "b"]))
    assert claims["sub"] == "user-alice" and claims["aud"] == jwt.audience and claims["groups"] == ["a", "b"]
    assert jwt.key not in repr(jwt)
    assert jwt.jwks()["keys"][0]["kid"] == jwt.key_id


def test_the_event_builder_reproduces_api_gateways_event() -> None:
    # Given the request behind the recorded API Gateway event
    recorded = FIXTURE_EVENT
    claims = {"sub": "user-alice", "iss": "https://issuer.example.com/", "aud": "headshot-app", "exp": 1900000000}
    # When the emulator's builder makes the event
    event = api_event("POST", "/v1/jobs", Route("POST", "/v1/jobs", "ApiFunction"), recorded["headers"], "{}",
                      claims, "203.0.113.10", api_id="abc123", request_id="Q1x2y3z4",
                      now=recorded["requestContext"]["timeEpoch"] / 1000)  # fmt: skip
    # Then it is the recorded event, plus the forwarding headers API Gateway adds
    added = {name: event["headers"].pop(name) for name in ("x-forwarded-for", "x-forwarded-port", "x-amzn-trace-id")}
    assert event == recorded
    assert added["x-forwarded-for"] == "203.0.113.10" and added["x-amzn-trace-id"].startswith("Root=1-")


# --------------------------------------------------------------------------- a fake function behind the emulator


def test_a_valid_request_reaches_the_function_as_a_v2_event(
    gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt
) -> None:
    # Given a valid token, a path parameter, a repeated query parameter, repeated headers and cookies
    token = jwt.token("user-alice", groups=["admin", "ops"])
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("GET", "/v1/jobs/job_123?b=2&a=1&a=3&empty=")
    for name, value in [("Authorization", f"Bearer {token}"), ("X-Custom", "one"), ("X-Custom", "two"),
                        ("Cookie", "session=abc; theme=dark"), ("User-Agent", "headshot-test/1.0")]:  # fmt: skip
        connection.putheader(name, value)
    connection.endheaders()
    # When the request is sent
    response = connection.getresponse()
    body = response.read()
    connection.close()
    # Then the function answered, and it got the event API Gateway would send
    assert response.status == 200 and json.loads(body) == {"ok": True}
    assert response.getheader("apigw-requestid")
    function, event = fake.calls[0]
    assert function == "ApiFunction"
    assert event.keys() >= FIXTURE_EVENT.keys() - {"body"}
    assert event["requestContext"].keys() == FIXTURE_EVENT["requestContext"].keys()
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /v1/jobs/{job_id}"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/v1/jobs/job_123"
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": ""}
    assert event["pathParameters"] == {"job_id": "job_123"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert all(name == name.lower() for name in headers) and "cookie" not in headers
    assert headers["x-custom"] == "one,two" and headers["authorization"] == f"Bearer {token}"
    context = event["requestContext"]
    assert context["authorizer"]["jwt"]["scopes"] is None
    claims = context["authorizer"]["jwt"]["claims"]
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["sub"] == "user-alice" and claims["groups"] == "[admin ops]" and claims["exp"].isdigit()
    assert context["http"] == {"method": "GET", "path": "/v1/jobs/job_123", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "headshot-test/1.0"}  # fmt: skip
    assert context["stage"] == "$default" and context["requestId"] == response.getheader("apigw-requestid")
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert "body" not in event and event["isBase64Encoded"] is False


def test_text_bodies_arrive_as_text_and_binary_bodies_as_base64(
    gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt
) -> None:
    # Given a JSON body and a binary body
    token = jwt.token("user-alice")
    jpeg = b"\xff\xd8\xff\xe0binary\x00\x01"
    # When both are posted
    call(gateway.url, "POST", "/v1/jobs", token=token, body={"photo_count": 2})
    call(gateway.url, "POST", "/v1/jobs/job_1/regenerate", token=token, body=jpeg,
         headers={"Content-Type": "image/jpeg"})  # fmt: skip
    # Then JSON is text, the image base64
    text_event, binary_event = (event for _, event in fake.calls)
    assert text_event["body"] == '{"photo_count": 2}' and text_event["isBase64Encoded"] is False
    assert binary_event["isBase64Encoded"] is True and base64.b64decode(binary_event["body"]) == jpeg
    assert binary_event["pathParameters"] == {"job_id": "job_1"}


def test_the_lambda_response_is_mapped_back(gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt) -> None:
    # Given a function answering status, headers, multi-value headers, cookies and a base64 body
    png = b"\x89PNG\r\n\x1a\n\x00binary"
    fake.response = {"statusCode": 202, "headers": {"content-type": "image/png", "x-one": "1"},
                     "multiValueHeaders": {"x-many": ["p", "q"]}, "cookies": ["s=1; Path=/", "t=2; HttpOnly"],
                     "body": base64.b64encode(png).decode(), "isBase64Encoded": True}  # fmt: skip
    # When it is called
    reply = call(gateway.url, "GET", "/v1/styles", token=jwt.token("user-alice"))
    # Then the client gets exactly that
    assert reply.status == 202 and reply.body == png
    assert reply.headers["content-type"] == "image/png" and reply.headers["x-one"] == "1"
    assert reply.headers.get_all("x-many") == ["p", "q"]
    assert reply.headers.get_all("set-cookie") == ["s=1; Path=/", "t=2; HttpOnly"]


def test_a_simple_response_becomes_200_json(gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt) -> None:
    # Given a function that returns a plain object (no statusCode)
    fake.response = {"hello": "world"}
    # When it is called
    reply = call(gateway.url, "GET", "/v1/styles", token=jwt.token("user-alice"))
    # Then API Gateway's inference applies: 200, JSON, the object as the body
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.json() == {"hello": "world"}


def test_no_token_is_401_and_the_function_is_not_invoked(gateway: HttpApiEmulator, fake: FakeFunction) -> None:
    # Given no Authorization header / When a route is called
    reply = call(gateway.url, "POST", "/v1/jobs", body={})
    # Then 401 as API Gateway answers it, and nothing ran
    assert reply.status == 401 and reply.json() == {"message": "Unauthorized"}
    assert reply.headers["www-authenticate"] == "Bearer"
    assert fake.calls == []


def _bad_token(kind: str, jwt: LocalJwt, intruder: LocalJwt) -> str:
    def unsigned(alg: str) -> str:
        header = base64.urlsafe_b64encode(json.dumps({"alg": alg, "typ": "JWT", "kid": jwt.key_id}).encode())
        payload = base64.urlsafe_b64encode(json.dumps({"iss": jwt.issuer, "aud": jwt.audience, "sub": "user-alice",
                                                       "exp": int(time.time()) + 600}).encode())  # fmt: skip
        return f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}.c2ln"

    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: jwt.token("user-alice", ttl_s=-5),
        "wrong audience": lambda: jwt.token("user-alice", aud="someone-else"),
        "wrong issuer": lambda: jwt.token("user-alice", iss="https://evil.example.com/"),
        "another key": lambda: intruder.token("user-alice"),
        "forged signature": lambda: (
            jwt.token("user-alice").rsplit(".", 1)[0] + "." + intruder.token("user-alice").rsplit(".", 1)[1]
        ),
        "alg none": lambda: unsigned("none"),
        "alg HS256": lambda: unsigned("HS256"),
        "not yet valid": lambda: jwt.token("user-alice", nbf=int(time.time()) + 600),
        "no subject": lambda: jwt.token(""),
        "garbage": lambda: "not-a-jwt",
    }
    return makers[kind]()


@pytest.mark.parametrize(
    ("kind", "description"),
    [
        ("expired", "the token has expired"),
        ("wrong audience", "the token does not have a valid audience"),
        ("wrong issuer", "the token does not have a valid issuer"),
        ("another key", None),
        ("forged signature", "the token signature is invalid"),
        ("alg none", "signing method none is invalid"),
        ("alg HS256", "signing method HS256 is invalid"),
        ("not yet valid", None),
        ("no subject", "the token has no subject"),
        ("garbage", None),
    ],
)
def test_an_invalid_token_is_401_and_the_function_is_not_invoked(
    gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt, intruder: LocalJwt, kind: str, description: str | None
) -> None:
    # Given a token the authorizer must refuse
    token = _bad_token(kind, jwt, intruder)
    with pytest.raises(InvalidToken):
        jwt.verify(token)
    # When it is sent
    reply = call(gateway.url, "GET", "/v1/jobs/job_1", token=token)
    # Then 401 with API Gateway's challenge, and nothing ran
    assert reply.status == 401 and reply.json() == {"message": "Unauthorized"}
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith('Bearer scope="" error="invalid_token" error_description="')
    if description is not None:
        assert f'error_description="{description}"' in challenge
    assert fake.calls == []


def test_a_token_without_the_bearer_prefix_is_accepted(
    gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt
) -> None:
    # Given the bare token in Authorization (API Gateway takes it with or without "Bearer")
    reply = call(gateway.url, "GET", "/v1/styles", headers={"Authorization": jwt.token("user-alice")})
    # Then it is accepted
    assert reply.status == 200 and len(fake.calls) == 1


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nope"), ("PUT", "/v1/styles"), ("GET", "/v1/jobs/")])
def test_an_unknown_route_is_404(
    gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt, method: str, path: str
) -> None:
    # Given a path or method no route takes / When it is called, with or without a token
    with_token = call(gateway.url, method, path, token=jwt.token("user-alice"))
    without = call(gateway.url, method, path)
    # Then API Gateway's 404 (routing comes before the authorizer), and nothing ran
    assert with_token.status == without.status == 404
    assert with_token.json() == without.json() == {"message": "Not Found"}
    assert fake.calls == []


def test_a_raising_function_is_500_without_a_trace(gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt) -> None:
    # Given a function that raises
    fake.error = RuntimeError("secret internals /var/task/app.py")
    # When it is called
    reply = call(gateway.url, "GET", "/v1/styles", token=jwt.token("user-alice"))
    # Then API Gateway's 500, and nothing of the error
    assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}
    assert b"secret" not in reply.body and b"Traceback" not in reply.body


def test_a_malformed_response_is_500(gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt) -> None:
    # Given a function answering a non-numeric status / When it is called / Then 500
    fake.response = {"statusCode": "teapot", "body": "x"}
    reply = call(gateway.url, "GET", "/v1/styles", token=jwt.token("user-alice"))
    assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}


def test_a_body_over_10_mb_is_413(gateway: HttpApiEmulator, fake: FakeFunction, jwt: LocalJwt) -> None:
    # Given a request declaring one byte over the 10 MB payload limit
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/v1/jobs")
    connection.putheader("Authorization", f"Bearer {jwt.token('user-alice')}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(MAX_PAYLOAD_BYTES + 1))
    connection.endheaders()
    # When the gateway sees the headers
    response = connection.getresponse()
    body = response.read()
    connection.close()
    # Then 413, without reading the body or invoking anything
    assert response.status == 413 and json.loads(body) == {"message": "Request Entity Too Large"}
    assert fake.calls == []


def test_a_named_stage_prefixes_the_path(template_routes: list[Route], fake: FakeFunction, jwt: LocalJwt) -> None:
    # Given the API deployed to a stage "dev"
    with HttpApiEmulator(template_routes, fake, jwt, stage="dev") as emulator:
        # When a route is called under /dev, and once without the stage
        url = emulator.url
        reply = call(url, "GET", "/v1/jobs/job_9?x=1", token=jwt.token("user-alice"))
        bare = call(url.removesuffix("/dev"), "GET", "/v1/jobs/job_9", token=jwt.token("user-alice"))
    # Then the stage is in the URL, rawPath and requestContext, as on AWS; without it there is no route
    assert url.endswith("/dev") and reply.status == 200 and bare.status == 404
    event = fake.event
    assert event["rawPath"] == "/dev/v1/jobs/job_9" and event["requestContext"]["stage"] == "dev"
    assert event["pathParameters"] == {"job_id": "job_9"} and event["queryStringParameters"] == {"x": "1"}


# --------------------------------------------------------------------------- the real api function


class RealFunctions:
    """`invoke` for the emulator: the real handler module of each function, counting invocations."""

    def __init__(self, modules: dict[str, ModuleType]) -> None:
        self.modules = modules
        self.invocations: list[str] = []

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.invocations.append(event["routeKey"])
        response: dict[str, Any] = self.modules[function].lambda_handler(event, FakeLambdaContext())
        return response


@pytest.fixture
def real_api(
    template_routes: list[Route], jwt: LocalJwt, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HttpApiEmulator, RealFunctions]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        # Given the jobs table and bucket as template.yaml declares them, and the function's environment
        create_table(boto3.client("dynamodb", region_name=REGION), "JobsTable", TABLE)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        resources: dict[str, str | list[str]] = {
            "JobsTable": TABLE, "DataBucket": BUCKET, "InferenceEndpoint.EndpointName": "headshot-endpoint",
            "WebhookQueue": "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks",
            "WebhookSigningSecret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhook-AbCdEf",
        }  # fmt: skip
        for name, value in function_environment("ApiFunction", resources).items():
            monkeypatch.setenv(name, value)
        from headshot.settings import get_control_plane_settings
        from headshot.wiring import control_plane

        get_control_plane_settings.cache_clear()
        control_plane.cache_clear()
        module = importlib.import_module("api.app")
        # The module built its plane at first import, maybe under another test's resources: bind it to these.
        monkeypatch.setattr(module, "plane", control_plane())
        functions = RealFunctions({"ApiFunction": module})
        emulator = HttpApiEmulator(template_routes, functions, jwt)
        emulator.start()
        try:
            yield emulator, functions
        finally:
            emulator.stop()
            get_control_plane_settings.cache_clear()
            control_plane.cache_clear()


def test_the_real_api_serves_jobs_per_owner(real_api: tuple[HttpApiEmulator, RealFunctions], jwt: LocalJwt) -> None:
    emulator, functions = real_api
    alice, mallory = jwt.token("user-alice"), jwt.token("user-mallory")
    # Given Alice creates a job over HTTP
    created = call(emulator.url, "POST", "/v1/jobs", token=alice, body={"photo_count": 2, "variants": 2})
    assert created.status == 201, created.body
    job = created.json()
    assert job["status"] == "awaiting_upload" and len(job["uploads"]) == 2
    assert job["uploads"][0]["fields"]["key"].startswith(f"uploads/{job['job_id']}/")
    # When she reads it back / Then 200 with her job
    mine = call(emulator.url, "GET", f"/v1/jobs/{job['job_id']}", token=alice)
    assert mine.status == 200 and mine.json()["job_id"] == job["job_id"]
    assert mine.headers["content-type"] == "application/json"
    # When Mallory asks for it / Then it does not exist for her
    theirs = call(emulator.url, "GET", f"/v1/jobs/{job['job_id']}", token=mallory)
    assert theirs.status == 404 and theirs.json() == {"error": {"code": "not_found", "message": "no such job"}}
    # When the catalogue is read and the job deleted / Then 200 and 204
    assert call(emulator.url, "GET", "/v1/styles", token=alice).status == 200
    deleted = call(emulator.url, "DELETE", f"/v1/jobs/{job['job_id']}", token=alice)
    assert deleted.status == 204 and deleted.body == b""
    assert functions.invocations == ["POST /v1/jobs", "GET /v1/jobs/{job_id}", "GET /v1/jobs/{job_id}",
                                     "GET /v1/styles", "DELETE /v1/jobs/{job_id}"]  # fmt: skip


def test_the_real_api_is_not_invoked_without_a_valid_token(
    real_api: tuple[HttpApiEmulator, RealFunctions], jwt: LocalJwt, intruder: LocalJwt
) -> None:
    emulator, functions = real_api
    # Given no token, an expired one, one for another audience and one signed with another key
    tokens = [None, jwt.token("user-alice", ttl_s=-1), jwt.token("user-alice", aud="other-app"),
              intruder.token("user-alice")]  # fmt: skip
    # When each creates a job
    replies = [call(emulator.url, "POST", "/v1/jobs", token=token, body={}) for token in tokens]
    # Then every one is 401 from the gateway and the function never ran
    assert [reply.status for reply in replies] == [401, 401, 401, 401]
    assert all(reply.json() == {"message": "Unauthorized"} for reply in replies)
    assert functions.invocations == []


def test_the_real_api_gets_bodies_and_unknown_routes_like_on_aws(
    real_api: tuple[HttpApiEmulator, RealFunctions], jwt: LocalJwt
) -> None:
    emulator, functions = real_api
    token = jwt.token("user-alice")
    # Given a body that is not JSON / When it is posted / Then the function's own 400
    bad = call(emulator.url, "POST", "/v1/jobs", token=token, body=b"{not json")
    assert bad.status == 400 and bad.json()["error"]["code"] == "invalid_json"
    # Given a route the API does not have / When it is called / Then the gateway's 404, the function not run
    missing = call(emulator.url, "PATCH", "/v1/jobs", token=token)
    assert missing.status == 404 and missing.json() == {"message": "Not Found"}
    assert functions.invocations == ["POST /v1/jobs"]


def valid(schema: str, body: Any) -> None:
    """`body` matches docs/openapi.yaml's components/schemas/`schema` (raises otherwise)."""
    import jsonschema

    document = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    ref = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    jsonschema.Draft202012Validator(ref).validate(body)


def test_the_real_api_lists_and_cancels_jobs_over_http(
    real_api: tuple[HttpApiEmulator, RealFunctions], jwt: LocalJwt
) -> None:
    emulator, _ = real_api
    token = jwt.token("user-alice")

    # Given two jobs of alice's, created over HTTP
    ids = [call(emulator.url, "POST", "/v1/jobs", token=token, body={}).json()["job_id"] for _ in range(2)]
    # When she lists them one a page, with the query string as a client sends it
    first = call(emulator.url, "GET", "/v1/jobs?limit=1", token=token)
    assert first.status == 200
    valid("JobPage", first.json())
    cursor = first.json()["next_cursor"]
    second = call(emulator.url, "GET", f"/v1/jobs?limit=1&cursor={cursor}", token=token).json()
    # Then both come, once each, in the documented shape (the order is the unit tests' concern:
    # two creates may share a millisecond)
    assert sorted(page["jobs"][0]["job_id"] for page in (first.json(), second)) == sorted(ids)
    assert second["next_cursor"] is None
    # And cancelling one answers the documented job, cancelled
    cancelled = call(emulator.url, "POST", f"/v1/jobs/{ids[0]}/cancel", token=token)
    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled"
    valid("Job", cancelled.json())


def test_the_real_api_honours_idempotency_keys_and_erases_a_user_over_http(
    real_api: tuple[HttpApiEmulator, RealFunctions], jwt: LocalJwt
) -> None:
    emulator, _ = real_api
    token = jwt.token("user-alice")

    # Given a create sent twice with one Idempotency-Key, as a client retrying after a timeout does
    keyed = {"Idempotency-Key": "3f0c9a52-1b7e-4c1e-9a55-0d6f3c2b8e11"}
    first, again = (call(emulator.url, "POST", "/v1/jobs", token=token, body={"photo_count": 2}, headers=keyed)
                    for _ in range(2))  # fmt: skip
    # Then one job, answered twice alike in the documented shape; another body with the key is refused
    assert (first.status, again.status) == (201, 201) and again.json() == first.json()
    valid("CreateJobResponse", again.json())
    reused = call(emulator.url, "POST", "/v1/jobs", token=token, body={"photo_count": 3}, headers=keyed)
    assert (reused.status, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    listed = call(emulator.url, "GET", "/v1/jobs", token=token).json()["jobs"]
    assert [job["job_id"] for job in listed] == [first.json()["job_id"]]
    # When alice asks for her erasure / Then the documented answer, and her job is gone
    erased = call(emulator.url, "DELETE", "/v1/me", token=token)
    assert erased.status == 200 and erased.json()["erased_jobs"] == 1
    valid("UserErasure", erased.json())
    assert call(emulator.url, "GET", f"/v1/jobs/{first.json()['job_id']}", token=token).status == 404


def test_the_local_stack_writes_its_http_server_skeleton_once() -> None:
    # Given every module of the local stack
    local = REPO / "infra" / "local"
    skeletons = sorted(
        str(path.relative_to(local))
        for path in local.rglob("*.py")
        if "ThreadingHTTPServer" in path.read_text() or "BaseHTTPRequestHandler)" in path.read_text()
    )
    # Then only the shared server module builds on http.server; the emulators and the receiver use it
    assert skeletons == ["httpserver.py"]


def test_stopping_the_emulator_ends_idle_keep_alive_connections(gateway: HttpApiEmulator, jwt: LocalJwt) -> None:
    # Given a keep-alive connection that has been answered once and is now idle
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("GET", "/no/such/route", headers={"Authorization": f"Bearer {jwt.token('alice')}"})
    response = connection.getresponse()
    response.read()
    assert response.status == 404 and not response.will_close
    # When the emulator stops
    gateway.stop()
    # Then the idle connection is closed by the server rather than left open
    assert connection.sock is not None
    assert connection.sock.recv(1) == b""
    connection.close()
