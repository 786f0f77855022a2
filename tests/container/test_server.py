"""The SageMaker HTTP contract over real HTTP: /ping, /invocations against moto S3, errors, stop."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import headshot_inference
from headshot_inference.backends import DST_COMPOSITE_SYNTHETIC, GeneratedImage, SourcePhoto
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.metadata import read_xmp
from tests.container.conftest import S3, Client, GatedBackend, container_settings, running

pytestmark = pytest.mark.container


def request_document(s3: S3, photo_uris: list[str], **overrides: Any) -> dict[str, Any]:
    return {
        "job_id": "job-123",
        "round": 1,
        "photos": photo_uris,
        "styles": ["studio_gray"],
        "variants": 1,
        "seed": 42,
        "output_prefix": f"s3://{s3.bucket}/results/job-123/",
        "reference": {"embeddings": [], "embedding_mean": None, "skin_lab": None},
    } | overrides


class FailingBackend:
    name = "studio"
    seed_sensitive = False

    def load(self) -> None:
        return None

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        raise RuntimeError("CUDA out of memory at /opt/secret/path.py line 12")


class BlankBackend:
    """Generates plain grey squares: no face, so nothing passes fidelity."""

    name = "studio"
    seed_sensitive = False

    def load(self) -> None:
        return None

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        grey = np.full((1024, 1024, 3), 128, np.uint8)
        return [GeneratedImage(s, v, seed, grey, 0, DST_COMPOSITE_SYNTHETIC) for s in styles for v in range(variants)]


def test_ping_is_503_until_the_backend_has_loaded(tmp_path: Path, studio: StudioBackend) -> None:
    # Given a server whose backend load blocks until we release it
    backend = GatedBackend(studio)
    with running(backend, container_settings(tmp_path)) as server:
        # When SageMaker pings during the load
        status, body = server.request("GET", "/ping")
        # Then the port answers at once, but not ready
        assert (status, body) == (503, {"status": "loading"})
        # And an early invocation is refused as not ready rather than queued
        assert server.invoke({"job_id": "x"})[0] == 503

        # When the load completes
        backend.may_load.set()
        server.wait_ready()
        # Then /ping answers 200
        assert server.request("GET", "/ping") == (200, {"status": "ready", "backend": "studio"})


def test_invocation_reads_photos_from_s3_and_writes_kept_images(
    tmp_path: Path, s3: S3, studio: StudioBackend, astronaut: bytes
) -> None:
    # Given an accepted photo in S3 and a ready server
    uri = s3.put("photos/job-123/p1.png", astronaut)
    document = request_document(s3, [uri], styles=["studio_gray", "studio_white"])
    with running(studio, container_settings(tmp_path)) as server:
        server.wait_ready()
        # When SageMaker async posts the request object's bytes (its own content type)
        status, manifest = server.invoke(json.dumps(document).encode(), content_type="application/octet-stream")

    # Then the result manifest describes every image, and the kept ones are in S3
    assert status == 200, manifest
    assert (manifest["job_id"], manifest["round"], manifest["backend"]) == ("job-123", 1, "studio")
    assert {image["style"] for image in manifest["images"]} == {"studio_gray", "studio_white"}
    assert set(manifest["timings"]) >= {"fetch_ms", "render_ms", "upload_ms", "total_ms"}
    kept = [image for image in manifest["images"] if image["kept"]]
    assert kept, manifest
    assert [image["rank"] for image in kept] == list(range(1, len(kept) + 1))
    assert s3.keys("results/job-123/") == sorted(image["key"] for image in kept)
    for image in kept:
        assert image["key"].startswith("results/job-123/r1-")
        assert image["fidelity"]["identity_match"] is True
        assert isinstance(image["seed"], int)
        data, content_type = s3.get(image["key"])
        assert content_type == image["content_type"] == "image/jpeg"
        xmp = read_xmp(data)
        assert xmp is not None and DST_COMPOSITE_SYNTHETIC.encode() in xmp


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"job_id": "job-1", "photos": [', "invalid_json"),
        (b"\xff\xfe not utf-8", "invalid_json"),
        (b'["a", "list"]', "invalid_request"),
        (b'{"job_id": "job-1", "styles": ["studio_gray"], "output_prefix": "s3://b-1/r/"}', "invalid_request"),
        (b'{"job_id": "job-1", "photos": ["s3://bucket-1/p.jpg"], "styles": ["studio_gray"], '
         b'"output_prefix": "s3://bucket-1/r/", "variants": 0}', "invalid_request"),
        (b'{"job_id": "job-1", "photos": ["https://example.com/p.jpg"], "styles": ["studio_gray"], '
         b'"output_prefix": "s3://bucket-1/r/"}', "invalid_request"),
        (b'{"job_id": "job-1", "photos": ["s3://bucket-1/p.jpg"], "styles": ["renaissance_oil"], '
         b'"output_prefix": "s3://bucket-1/r/"}', "unknown_style"),
    ],
    ids=["truncated", "not-utf8", "not-object", "missing-photos", "zero-variants", "not-s3", "unknown-style"],
)  # fmt: skip
def test_bad_requests_are_400_with_a_clear_error(tmp_path: Path, studio: StudioBackend, body: bytes, code: str) -> None:
    # Given a ready server
    with running(studio, container_settings(tmp_path)) as server:
        server.wait_ready()
        # When the request document is malformed or asks for something we do not have
        status, response = server.invoke(body)
    # Then it is a 400 with a stable code and a message (no retry can help)
    assert status == 400
    assert response["error"]["code"] == code
    assert response["error"]["message"]


def test_a_missing_photo_object_is_400(tmp_path: Path, s3: S3, studio: StudioBackend) -> None:
    # Given a request naming a photo that is not in the bucket
    document = request_document(s3, [f"s3://{s3.bucket}/photos/job-123/gone.jpg"])
    with running(studio, container_settings(tmp_path)) as server:
        server.wait_ready()
        # When it is invoked
        status, response = server.invoke(document)
    # Then the request is refused as unanswerable, naming the photo
    assert status == 400
    assert response["error"]["code"] == "photo_not_found"
    assert "gone.jpg" in response["error"]["message"]


def test_a_backend_fault_is_500_without_internals(
    tmp_path: Path, s3: S3, astronaut: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a backend that crashes
    uri = s3.put("photos/job-123/p1.png", astronaut)
    with running(FailingBackend(), container_settings(tmp_path)) as server:
        server.wait_ready()
        # When it is invoked
        status, response = server.invoke(request_document(s3, [uri]))
    # Then the client sees a 500 with an error id, and no traceback or exception text
    assert status == 500
    assert response["error"]["code"] == "internal_error"
    text = json.dumps(response)
    assert "Traceback" not in text and "CUDA" not in text and "/opt/secret" not in text
    # And the log has the traceback under the same error id
    error_id = response["error"]["message"].rsplit(" ", 1)[-1]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_too_few_faithful_images_is_422(tmp_path: Path, s3: S3, astronaut: bytes) -> None:
    # Given a backend whose images show nobody
    uri = s3.put("photos/job-123/p1.png", astronaut)
    with running(BlankBackend(), container_settings(tmp_path)) as server:
        server.wait_ready()
        # When it is invoked
        status, response = server.invoke(request_document(s3, [uri], variants=2))
    # Then the job fails with insufficient_fidelity and why, and nothing is written
    assert status == 422
    assert response["error"]["code"] == "insufficient_fidelity"
    assert response["error"]["details"]["reasons"] == {"no_face": 2}
    assert s3.keys("results/") == []


def test_stop_lets_the_in_flight_invocation_finish(
    tmp_path: Path, s3: S3, studio: StudioBackend, astronaut: bytes
) -> None:
    # Given an invocation that is generating
    uri = s3.put("photos/job-123/p1.png", astronaut)
    backend = GatedBackend(studio)
    backend.may_load.set()
    backend.may_generate.clear()
    results: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    with running(backend, container_settings(tmp_path)) as server:
        server.wait_ready()
        client = threading.Thread(target=lambda: results.put(server.invoke(request_document(s3, [uri]))))
        client.start()
        assert backend.generating.wait(30)

        # When the server is told to stop (what SIGTERM does) while it works
        stopper = threading.Thread(target=server.server.stop)
        stopper.start()
        time.sleep(0.3)
        # Then it no longer accepts connections
        with pytest.raises(OSError):
            server.request("GET", "/ping")
        # And the in-flight invocation still completes and is answered
        backend.may_generate.set()
        status, manifest = results.get(timeout=60)
        stopper.join(timeout=30)
    assert status == 200 and manifest["job_id"] == "job-123"
    assert not stopper.is_alive()


def test_sigterm_stops_the_container_process_gracefully(
    tmp_path: Path, s3: S3, aws_env: dict[str, str], astronaut: bytes
) -> None:
    # Given the container entry point running as its own process, as `docker run IMAGE serve`
    uri = s3.put("photos/job-123/p1.png", astronaut)
    package_root = Path(headshot_inference.__file__).resolve().parents[1]
    env = os.environ | aws_env | {
        "SAGEMAKER_BIND_TO_PORT": "0",
        "HEADSHOT_BIND_HOST": "127.0.0.1",
        "HEADSHOT_MODEL_DIR": str(tmp_path),
        "HEADSHOT_BACKEND": "studio",
        "HEADSHOT_UNSIGNED_OUTPUTS": "true",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "headshot_inference.serve", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def wait_for(text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if text in line:
                return line
        raise AssertionError(f"{text!r} not logged; log so far:\n{''.join(log)}")

    try:
        port = int(wait_for("listening on").split("listening on ")[1].split(" ")[0].rsplit(":", 1)[1])
        wait_for("ready in")
        client = Client(port)
        assert client.request("GET", "/ping")[0] == 200

        # When SIGTERM arrives while an invocation is in flight
        results: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=lambda: results.put(client.invoke(request_document(s3, [uri]))), daemon=True).start()
        wait_for("invocation started")
        process.send_signal(signal.SIGTERM)

        # Then the invocation is still answered, and the process exits 0 having said so
        status, manifest = results.get(timeout=60)
        assert status == 200, manifest
        assert process.wait(timeout=30) == 0
        wait_for("stopped", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
