"""Fixtures for the inference container: photos, a moto S3 server, and a running HTTP server."""

from __future__ import annotations

import http.client
import io
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from headshot_inference.backends import Backend, GeneratedImage, SourcePhoto
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.server import InferenceServer
from headshot_inference.settings import ContainerSettings

FACES: Final = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "faces"
REGION: Final = "eu-west-1"


def shared_photo(name: str) -> bytes:
    path = FACES / name
    if not path.is_file():
        pytest.skip(f"shared test photo {name} not found in {FACES} (../shared/testdata/faces beside the checkout)")
    return path.read_bytes()


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> bytes:
    """scikit-image's astronaut portrait: always available, one frontal face."""
    return png_bytes(skimage_data.astronaut())


@pytest.fixture(scope="session")
def obama_photos() -> list[bytes]:
    """Three photos of one person in different light, framing and pose."""
    return [shared_photo(name) for name in ("obama.jpg", "obama2.jpg", "obama3.jpg")]


@pytest.fixture(scope="session")
def studio() -> StudioBackend:
    backend = StudioBackend()
    backend.load()
    return backend


# ---------------------------------------------------------------------------------------
# S3 (moto in server mode, reached through AWS_ENDPOINT_URL like the real container)


@dataclass
class S3:
    client: Any
    bucket: str

    def put(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str) -> tuple[bytes, str]:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        return response["Body"].read(), response["ContentType"]

    def keys(self, prefix: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3(aws_env: dict[str, str]) -> S3:
    client = boto3.client("s3")
    bucket = f"headshot-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    return S3(client, bucket)


# ---------------------------------------------------------------------------------------
# the HTTP server on an ephemeral port


def container_settings(tmp_path: Path, **env: str) -> ContainerSettings:
    # Unsigned on purpose unless a test names a signing secret (test_content_credentials does).
    base = {
        "SAGEMAKER_BIND_TO_PORT": "0",
        "HEADSHOT_BIND_HOST": "127.0.0.1",
        "HEADSHOT_MODEL_DIR": str(tmp_path),
        "HEADSHOT_UNSIGNED_OUTPUTS": "true",
    }
    return ContainerSettings.from_env(base | env)


@dataclass
class Client:
    """A plain HTTP client for the container's port (keep-alive off: one request each)."""

    port: int

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return response.status, json.loads(raw) if raw else {}

    def invoke(
        self, document: dict[str, Any] | bytes, content_type: str = "application/json"
    ) -> tuple[int, dict[str, Any]]:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.request("POST", "/invocations", body, {"Content-Type": content_type})


@dataclass
class Running(Client):
    server: InferenceServer

    def wait_ready(self, timeout: float = 60) -> None:
        if not self.server.service.ready.wait(timeout):
            raise TimeoutError("backend did not load")


@contextmanager
def running(backend: Backend, settings: ContainerSettings) -> Iterator[Running]:
    server = InferenceServer(settings, backend)
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    try:
        yield Running(server.port, server)
    finally:
        server.stop()
        thread.join(timeout=30)


class GatedBackend:
    """Studio, but load() and generate() wait for events the test controls."""

    name = "studio"
    seed_sensitive = False

    def __init__(self, studio: StudioBackend) -> None:
        self.studio = studio
        self.may_load = threading.Event()
        self.may_generate = threading.Event()
        self.may_generate.set()
        self.generating = threading.Event()

    def load(self) -> None:
        self.may_load.wait(timeout=60)

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        self.generating.set()
        self.may_generate.wait(timeout=60)
        return self.studio.generate(photos, styles, variants, seed)
