"""The local S3 refuses what S3 refuses: POST policies, anonymous access (issue 11, section 2).

The fast tests run the gate in front of a bare moto server with the API's own recipe
(`S3Storage.presign_upload`, sent as `demo.upload` sends it); the last one goes through the
whole local stack, so a wrong recipe in the API fails locally as it would on AWS.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from headshot.storage import S3Storage
from infra.local import demo
from infra.local.s3_gate import S3Gate
from infra.local.stack import free_port
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration

BUCKET = "gate-test"
MAX_BYTES = 1024
NOW = datetime.now(UTC)


@dataclass
class Gated:
    url: str
    moto_url: str

    def client(self, url: str | None = None) -> Any:
        return boto3.client(
            "s3", endpoint_url=url or self.url, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local", config=Config(signature_version="s3v4"),
        )  # fmt: skip

    def recipe(self, key: str, expires_in: timedelta = timedelta(minutes=5)) -> tuple[str, dict[str, str]]:
        """What the API hands a client: the presigned POST of the production adapter."""
        upload = S3Storage(BUCKET, self.client()).presign_upload(key, MAX_BYTES, NOW, expires_in)
        return upload.url, dict(upload.fields)


@pytest.fixture(scope="module")
def gated() -> Iterator[Gated]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    gate = S3Gate(moto_url, {"local": "local"})
    running = Gated(gate.start(), moto_url)
    running.client().create_bucket(Bucket=BUCKET)
    yield running
    gate.stop()
    moto.stop()


def post_form(url: str, fields: list[tuple[str, str]], data: bytes | None) -> tuple[int, str, bytes]:
    """A multipart/form-data POST with the fields in order, then the file (None: no file part)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode() for n, v in fields]
    if data is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo"\r\n'
            "Content-Type: image/png\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=b"".join(parts), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    return _send(request)


def _send(request: urllib.request.Request) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), "", response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        code = ET.fromstring(body).findtext("Code") or "" if body else ""
        return int(error.code), code, body


def key(prefix: str = "uploads") -> str:
    return f"{prefix}/{uuid.uuid4().hex}/0.jpg"


def exists(gated: Gated, name: str) -> bool:
    listed = gated.client(gated.moto_url).list_objects_v2(Bucket=BUCKET, Prefix=name)
    return bool(listed.get("KeyCount"))


def test_the_api_recipe_uploads(gated: Gated) -> None:
    # Given the API's presigned POST / When sent as the docs say: its fields, Content-Type, then the file
    name = key()
    url, fields = gated.recipe(name)
    status = demo.upload(url, fields, b"\x89PNG" + b"x" * 100, "image/png")
    # Then S3 stores it under the key the policy names
    assert status == 204
    assert exists(gated, name)


def _sent(fields: dict[str, str], **changes: str | None) -> list[tuple[str, str]]:
    merged: dict[str, str | None] = {**fields, "Content-Type": "image/png", **changes}
    return [(n, v) for n, v in merged.items() if v is not None]


REFUSALS: dict[str, tuple[Any, bytes | None, int, str]] = {
    # case: (how the form differs from the recipe, the file, S3's status, S3's code)
    "oversize": ({}, b"x" * (MAX_BYTES + 1), 400, "EntityTooLarge"),
    "empty": ({}, b"", 400, "EntityTooSmall"),
    "wrong content type": ({"Content-Type": "text/html"}, b"x", 403, "AccessDenied"),
    "missing content type": ({"Content-Type": None}, b"x", 403, "AccessDenied"),
    "another key": ({"key": "uploads/someone-else/0.jpg"}, b"x", 403, "AccessDenied"),
    "overwrite photos/": ({"key": "photos/job/0.jpg"}, b"x", 403, "AccessDenied"),
    "extra field": ({"x-amz-meta-owner": "mallory"}, b"x", 403, "AccessDenied"),
    "no file": ({}, None, 400, "InvalidArgument"),
    "no key": ({"key": None}, b"x", 400, "InvalidArgument"),
    "no policy": ({"policy": None}, b"x", 403, "AccessDenied"),
    "forged signature": ({"x-amz-signature": "0" * 64}, b"x", 403, "SignatureDoesNotMatch"),
    "unknown access key": (
        {"x-amz-credential": "AKIAOTHER/20260101/us-east-1/s3/aws4_request"},
        b"x",
        403,
        "InvalidAccessKeyId",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_an_upload_against_its_policy_is_refused(gated: Gated, case: str) -> None:
    # Given the API's presigned POST for one key
    changes, data, status, code = REFUSALS[case]
    name = key()
    url, fields = gated.recipe(name)
    # When a client sends something the policy does not allow
    got_status, got_code, _ = post_form(url, _sent(fields, **changes), data)
    # Then S3's status and error code come back and nothing is stored
    assert (got_status, got_code) == (status, code)
    assert not exists(gated, name)
    assert not exists(gated, "photos/")
    assert not exists(gated, "uploads/someone-else/")


def test_an_expired_policy_is_refused(gated: Gated) -> None:
    # Given a recipe whose policy expired a second ago
    name = key()
    url, fields = gated.recipe(name, expires_in=timedelta(seconds=-1))
    # When it is used
    status, code, body = post_form(url, _sent(fields), b"x")
    # Then S3 says the policy expired
    assert (status, code) == (403, "AccessDenied")
    assert b"Policy expired" in body
    assert not exists(gated, name)


def test_a_policy_edited_after_signing_is_refused(gated: Gated) -> None:
    # Given a recipe whose policy a client widened (bigger size, any key) without re-signing
    url, fields = gated.recipe(key())
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [["content-length-range", 0, 10**9], ["starts-with", "$key", ""],
                            ["starts-with", "$Content-Type", ""]]  # fmt: skip
    widened = base64.b64encode(json.dumps(policy).encode()).decode()
    # When it is used for another key
    status, code, _ = post_form(url, _sent(fields, policy=widened, key="photos/x/0.jpg"), b"x")
    # Then the signature no longer matches
    assert (status, code) == (403, "SignatureDoesNotMatch")


def test_anonymous_listing_and_reading_are_refused(gated: Gated) -> None:
    # Given an object in the bucket
    name = key()
    gated.client().put_object(Bucket=BUCKET, Key=name, Body=b"x")
    # When someone without credentials lists the bucket or reads the object
    listing = _send(urllib.request.Request(f"{gated.url}/{BUCKET}?list-type=2"))
    reading = _send(urllib.request.Request(f"{gated.url}/{BUCKET}/{name}"))
    # Then S3 denies both
    assert listing[:2] == (403, "AccessDenied")
    assert reading[:2] == (403, "AccessDenied")


def test_signed_requests_pass_through_unchanged(gated: Gated) -> None:
    # Given a signed client on the gate / When it writes, lists and reads through a presigned GET
    name = key("results")
    client = gated.client()
    client.put_object(Bucket=BUCKET, Key=name, Body=b"result bytes", ContentType="image/jpeg")
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="results/")
    url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": name}, ExpiresIn=60)
    head = client.head_object(Bucket=BUCKET, Key=name)
    # Then moto's answers come back as they are
    assert [item["Key"] for item in listed["Contents"]] == [name]
    assert (head["ContentLength"], head["ContentType"]) == (len(b"result bytes"), "image/jpeg")
    assert _send(urllib.request.Request(url))[::2] == (200, b"result bytes")


def test_an_expired_presigned_get_is_refused(gated: Gated) -> None:
    # Given a presigned GET that expired
    name = key("results")
    client = gated.client()
    client.put_object(Bucket=BUCKET, Key=name, Body=b"x")
    url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": name}, ExpiresIn=1)
    parts = urlsplit(url)
    query = [(n, "20200101T000000Z" if n == "X-Amz-Date" else v) for n, v in parse_qsl(parts.query)]
    url = urlunsplit(parts._replace(query=urlencode(query)))
    # When it is used / Then S3 says it expired
    assert _send(urllib.request.Request(url))[:2] == (403, "AccessDenied")


def test_the_local_stack_serves_uploads_through_the_gate(local_stack: RunningStack) -> None:
    # Given a job created through the API
    status, job = local_stack.call("POST", "/v1/jobs", "alice",
                                   {"photo_count": 1, "styles": ["studio_gray"], "variants": 1})  # fmt: skip
    assert status == 201, job
    slot = job["uploads"][0]
    # When its photo is sent with the wrong content type / Then the local S3 refuses it as S3 would
    fields = [(n, v) for n, v in slot["fields"].items() if n.lower() != "content-type"]
    assert post_form(slot["url"], [*fields, ("Content-Type", "text/plain")], b"x")[:2] == (403, "AccessDenied")
    # And anonymous listing of the data bucket is refused there too
    listing = _send(urllib.request.Request(f"{local_stack.state['s3_url']}/{local_stack.state['bucket']}"))
    assert listing[:2] == (403, "AccessDenied")
