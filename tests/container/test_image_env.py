"""The image's Python environment, rebuilt without Docker and started for real.

A fresh virtualenv gets exactly what the Dockerfile's runtime stage installs: the pinned
`inference_container/requirements.txt` alone (CPU torch standing in for the base image's
CUDA build), then the package with `pip install --no-deps` from just the files the
Dockerfile copies. The real entry point (`python -m headshot_inference.serve serve`) then
starts the diffusion backend on tiny random-weight models laid out as docs/DIFFUSION.md
documents, answers /ping and renders one invocation against moto S3.

The virtualenv is a one-time build (infra/build/image_env.py), cached in
build/image-venv-<hash of the requirements, the torch pin and the Python version>; the package is
reinstalled into it on every run, so the test always sees the current sources.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import pytest

from infra.build import image_env
from tests.container.conftest import REGION

pytestmark = [pytest.mark.container, pytest.mark.slow]

ROOT: Final = Path(__file__).resolve().parents[2]
DOCKERFILE: Final = ROOT / "inference_container" / "Dockerfile"
REQUIREMENTS: Final = image_env.REQUIREMENTS
MEDIAPIPE_MODELS: Final = ROOT / "functions" / "models" / "mediapipe"
# The only dlib model files the image may hold (never the 68-point landmark model).
DLIB_FILES: Final = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
# What the base image brings and the lock leaves out: torch and what only torch needs.
TORCH_SIDE: Final = frozenset({"torch", "jinja2", "markupsafe", "networkx", "sympy", "mpmath", "setuptools", "pip"})
START_TIMEOUT_S: Final = 600.0


def locked() -> dict[str, str]:
    """requirements.txt as {normalised name: version}; every line must be an exact pin."""
    pins: dict[str, str] = {}
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"requirements.txt: {line!r} is not an exact pin"
        pins[normalise(match.group(1))] = match.group(2)
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def image_python() -> Path:
    # `make test` builds it before pytest (infra/build/image_env.py); a bare pytest builds it here.
    return image_env.ensure()


def runtime_copies() -> list[str]:
    """The repository paths the Dockerfile's runtime stage COPYs from the build context."""
    final_stage = DOCKERFILE.read_text().replace("\\\n", " ").rsplit("\nFROM ", 1)[1]
    paths: list[str] = []
    for line in final_stage.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            paths += words[1:-1]
    return paths


@pytest.fixture(scope="module")
def installed(image_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed as the Dockerfile does: `pip install --no-deps .` of the copied files."""
    context = tmp_path_factory.mktemp("image-src")
    for relative in runtime_copies():
        source, target = ROOT / relative, context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    run([str(image_python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "."], cwd=context)
    return image_python


def installed_packages(python: Path) -> dict[str, str]:
    listing = run([str(python), "-m", "pip", "list", "--format=json"]).stdout
    return {normalise(item["name"]): item["version"] for item in json.loads(listing)}


@pytest.fixture(scope="module")
def dlib_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two licence-clean dlib files, as the Dockerfile's dlib-models stage leaves them."""
    # Found, not imported: the package's __init__ needs pkg_resources, which new setuptools dropped
    spec = importlib.util.find_spec("face_recognition_models")
    assert spec is not None and spec.origin is not None, "face_recognition_models (dev install) not found"
    source = Path(spec.origin).parent / "models"
    folder = tmp_path_factory.mktemp("dlib-models")
    for name in DLIB_FILES:
        shutil.copy2(source / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.container.test_diffusion import build_tiny_model_dir

    folder = tmp_path_factory.mktemp("model")
    build_tiny_model_dir(folder)
    (folder / "headshot.json").write_text(json.dumps({"backend": "diffusion"}))
    return folder


class Served:
    """`python -m headshot_inference.serve serve` from the image's environment, its log collected."""

    def __init__(self, python: Path, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [str(python), "-m", "headshot_inference.serve", "serve"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._port: int | None = None
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._queue.put(line)

    @property
    def log(self) -> str:
        return "".join(self.lines[-200:])

    def port(self, timeout: float) -> int:
        """The port from the server's "listening on" log line (waited for once)."""
        if self._port is not None:
            return self._port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = re.search(r"listening on [\d.]+:(\d+)", line)
            if found:
                self._port = int(found.group(1))
                return self._port
        pytest.fail(f"the server never listened (exit {self.process.poll()}):\n{self.log}")

    def request(self, port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return response.status, json.loads(raw) if raw else {}

    def wait_ready(self, port: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode} before /ping said ready:\n{self.log}")
            status, body = self.request(port, "GET", "/ping")
            if status == 200:
                return body
            time.sleep(0.5)
        pytest.fail(f"/ping not 200 after {timeout:.0f} s:\n{self.log}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="module")
def served(
    installed: Path,
    tiny_model_dir: Path,
    dlib_models: Path,
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """One server for the module's tests, which run in file order: ping, invoke, stop."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        # As the image's ENV sets them (paths here instead of /opt/...)
        "PYTHONUNBUFFERED": "1",
        "HEADSHOT_MODEL_DIR": str(tiny_model_dir),
        "HEADSHOT_DLIB_MODEL_DIR": str(dlib_models),
        "HEADSHOT_MEDIAPIPE_MODEL_DIR": str(MEDIAPIPE_MODELS),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "huggingface"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        # The test's own: the diffusion backend on the CPU (said explicitly: no GPU here)
        "HEADSHOT_BACKEND": "diffusion",
        "HEADSHOT_DEVICE": "cpu",
        "SAGEMAKER_BIND_TO_PORT": "0",
        "HEADSHOT_BIND_HOST": "127.0.0.1",
        # Random weights draw no face: every output is refused by fidelity, the manifest still comes back
        "HEADSHOT_MIN_IMAGES_KEPT": "0",
        # and would be on every redraw too: the first draw only (test_render_regenerate.py covers redraws)
        "HEADSHOT_MAX_REGENERATIONS": "0",
        "HEADSHOT_UNSIGNED_OUTPUTS": "true",  # this test is about the image's packages, not signing
        "OMP_NUM_THREADS": "1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    server = Served(installed, env, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_the_image_environment_is_the_lock_and_nothing_else(installed: Path) -> None:
    # Given the virtualenv built from the image's requirements alone, with the package installed --no-deps
    # When its packages are listed
    packages = installed_packages(installed)
    pins = locked()
    # Then every pinned package is there at its pinned version
    assert {name: packages.get(name) for name in pins} == pins
    # And nothing else came in but the base image's torch side and the package itself
    unpinned = set(packages) - set(pins) - TORCH_SIDE - {"headshot"}
    assert not unpinned, f"installed but not pinned in requirements.txt: {sorted(unpinned)}"
    # And the lock is consistent; only the package's own deliberately skipped dependencies are absent
    check = subprocess.run([str(installed), "-m", "pip", "check"], capture_output=True, text=True, check=False)
    broken = [line for line in check.stdout.splitlines() if line and not line.startswith("headshot ")]
    assert not broken, check.stdout
    # (never the package that bundles dlib's 68-point model)
    assert "face-recognition-models" not in packages
    assert "torch" not in pins  # the base image provides it


def test_serve_answers_ping_with_the_diffusion_backend(served: Served) -> None:
    # Given the image's environment running `serve` with the diffusion backend on tiny models
    port = served.port(START_TIMEOUT_S)
    # When SageMaker pings until the model has loaded
    ready = served.wait_ready(port, START_TIMEOUT_S)
    # Then /ping says ready, for the diffusion backend
    assert ready == {"status": "ready", "backend": "diffusion"}


def test_one_invocation_returns_a_manifest(served: Served, astronaut: bytes) -> None:
    # Given the ready server and a photo in moto S3
    port = served.port(START_TIMEOUT_S)
    served.wait_ready(port, START_TIMEOUT_S)
    client = boto3.client(
        "s3",
        endpoint_url=served.env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"headshot-image-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_object(Bucket=bucket, Key="photos/job-img/p1.png", Body=astronaut)
    document = {
        "job_id": "job-img",
        "photos": [f"s3://{bucket}/photos/job-img/p1.png"],
        "styles": ["studio_gray"],
        "variants": 1,
        "seed": 5,
        "output_prefix": f"s3://{bucket}/results/job-img/",
    }
    # When SageMaker posts one invocation
    status, manifest = served.request(port, "POST", "/invocations", json.dumps(document).encode())
    # Then it answers with the result manifest of one diffusion image
    assert status == 200, f"{manifest}\n{served.log}"
    assert (manifest["job_id"], manifest["backend"]) == ("job-img", "diffusion")
    assert [(image["style"], image["variant"]) for image in manifest["images"]] == [("studio_gray", 0)]
    assert set(manifest["timings"]) >= {"generate_ms", "fidelity_ms", "total_ms"}


def test_sigterm_stops_the_server_cleanly(served: Served) -> None:
    # Given the running server
    served.port(START_TIMEOUT_S)
    # When SageMaker stops the container, Then the process exits 0
    assert served.stop() == 0, served.log
