"""`make build` artefacts: one per template function, within Lambda's limits, licence-clean."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from headshot.mediapipe_models import PHOTO_CHECK_MODELS
from infra.build.lambdas import DLIB_MODELS, LAMBDA_UNZIPPED_LIMIT, functions_in, main, unzipped_size
from infra.template_loader import load_template

pytestmark = [pytest.mark.infra, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]
# The validator carries dlib, Pillow, numpy, LiteRT and five model files; the aim is
# 200 MB unzipped, leaving 50 MB under Lambda's 250 MB limit.
VALIDATOR_AIM = 200 * 1024 * 1024


WHEEL_CACHE = REPO_ROOT / "build" / "lambda-deps"


def _package_index() -> str:
    """The index pip would ask: PIP_INDEX_URL, else pip's configuration, else PyPI."""
    if url := os.environ.get("PIP_INDEX_URL"):
        return url.split()[0]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "https://pypi.org/simple"


def _unreachable(index: str) -> str | None:
    """Why ``index`` cannot be reached from here, or None when it can (a file:// index always can)."""
    parts = urlsplit(index)
    if parts.scheme == "file":
        return None
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        return f"{host}:{port} ({error})"
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aws-sam-build")
    # The wheel cache is shared with `make build`: once filled, the build copies files and needs no network.
    try:
        code = main(["--out", str(out), "--cache", str(WHEEL_CACHE)])
    except subprocess.CalledProcessError:
        # pip only runs on a cache miss; skip only when that miss truly needs a network that is absent.
        index = _package_index()
        why = _unreachable(index)
        if why is None:
            raise
        pytest.skip(
            f"the python3.12 Lambda wheels are not all in {WHEEL_CACHE} and the package index {index} cannot be "
            f"reached: {why}. Run `make build` once with network access; later runs work offline."
        )
    assert code == 0
    return out


def test_every_template_handler_exists_in_the_source() -> None:
    template = load_template(REPO_ROOT / "template.yaml")
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module, function = resource["Properties"]["Handler"].rsplit(".", 1)
        path = REPO_ROOT / "functions" / Path(*module.split(".")).with_suffix(".py")
        assert path.is_file(), f"{logical_id}: {path} missing"
        assert f"def {function}(" in path.read_text(), f"{logical_id}: no {function} in {path}"


def test_artefacts_fit_lambda_and_report_their_size(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = load_template(REPO_ROOT / "template.yaml")
    sizes = {spec.logical_id: unzipped_size(built / spec.logical_id) for spec in functions_in(template)}
    with capsys.disabled():
        print("\nLambda artefacts (unzipped MB): " + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in sizes.items()))
    assert all(size < LAMBDA_UNZIPPED_LIMIT for size in sizes.values()), sizes
    assert sizes["OnUploadFunction"] <= VALIDATOR_AIM, sizes


def test_deps_only_fills_the_wheel_cache_and_builds_no_artefact(built: Path, tmp_path: Path) -> None:
    # Given the wheel cache the build used (`make test` fills it first with --deps-only)
    out = tmp_path / "out"
    # When only the dependencies are asked for
    code = main(["--deps-only", "--out", str(out), "--cache", str(WHEEL_CACHE)])
    # Then every distinct requirements file has its finished cache entry, and no artefact is written
    assert code == 0
    assert not out.exists()
    entries = {p.name for p in WHEEL_CACHE.iterdir() if (p / ".complete").is_file()}
    template = load_template(REPO_ROOT / "template.yaml")
    digests = {hashlib.sha256(s.requirements.read_bytes()).hexdigest()[:16] for s in functions_in(template)}
    assert digests <= entries


def test_deps_only_without_an_index_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an empty wheel cache and a package index that refuses connections, with pip's own cache off
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    # When only the dependencies are asked for
    code = main(["--deps-only", "--cache", str(tmp_path / "cache")])
    # Then it fails with exit 1 and a line naming the requirements file (make lambda-deps then warns and goes on)
    assert code == 1
    assert "pip could not install functions/" in capsys.readouterr().err


def test_artefacts_hold_their_handler_and_only_what_they_need(built: Path) -> None:
    for spec in functions_in(load_template(REPO_ROOT / "template.yaml")):
        artefact = built / spec.logical_id
        assert (artefact / spec.handler_package / "app.py").is_file()
        assert (artefact / "headshot" / "usecases" / "create_job.py").is_file()
        assert not (artefact / "botocore").exists(), "the runtime provides botocore"
        assert not list(artefact.rglob("*.pyc"))
        shared_objects = list(artefact.rglob("*.so"))
        assert all("cpython-311" not in so.name for so in shared_objects), "wheels must target python3.12"
        if spec.logical_id == "OnUploadFunction":
            models = sorted(p.name for p in (artefact / "models" / "dlib").iterdir())
            assert models == sorted(DLIB_MODELS)
            eye_models = sorted(p.name for p in (artefact / "models" / "mediapipe").iterdir())
            assert eye_models == sorted(model.name for model in PHOTO_CHECK_MODELS)
            assert any(so.name.startswith("_dlib_pybind11.cpython-312-x86_64") for so in shared_objects)
        else:
            assert not (artefact / "models").exists() and not (artefact / "PIL").exists()
    # No artefact carries dlib's non-commercial 68-point landmark model.
    assert not [p for p in built.rglob("*.dat") if "68" in p.name]


def test_built_template_points_each_function_at_its_artefact(built: Path) -> None:
    built_template = json.loads((built / "template.yaml").read_text())
    for spec in functions_in(built_template):
        assert built_template["Resources"][spec.logical_id]["Properties"]["CodeUri"] == spec.logical_id
    assert importlib.util.find_spec("infra.build.lambdas") is not None


def _python312() -> str | None:
    """A working python3.12 binary (pyenv shims only work with a matching version selected)."""
    import shutil

    candidates = [
        shutil.which("python3.12"),
        *(str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
        if probe.returncode == 0:
            return probe.stdout.strip()
    return None


SMOKE = """
import json, os, sys
from pathlib import Path
sys.path[:0] = [os.environ["ARTEFACT"], os.environ["RUNTIME"]]
assert sys.version_info[:2] == (3, 12), sys.version
package = os.environ["PACKAGE"]
if package == "on_upload":
    from headshot.checks import PhotoChecker
    from headshot.faces import default_model_dir
    result = PhotoChecker().check_bytes(Path(os.environ["PHOTO"]).read_bytes(), "portrait.png")
    print(json.dumps({"accepted": result.accepted, "models": str(default_model_dir()),
                      "eye_openness": result.metrics.get("eye_openness")}))
import importlib
module = importlib.import_module(package + ".app")
print(json.dumps({"handler": callable(module.lambda_handler)}))
"""


def test_artefacts_import_and_run_under_python312(built: Path, tmp_path: Path) -> None:

    python312 = _python312()
    if python312 is None:
        pytest.skip("python3.12 is not installed here; the Lambda runtime's interpreter is needed for this check")
    # The Lambda runtime supplies boto3/botocore; emulate it with this environment's pure-Python copies.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    import boto3

    site = Path(str(boto3.__file__)).parents[1]
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        (runtime / name).symlink_to(site / name)
    from tests.support import images

    photo = tmp_path / "portrait.png"
    photo.write_bytes(images.encode(images.astronaut()))
    for spec in functions_in(load_template(REPO_ROOT / "template.yaml")):
        env = {
            "PATH": "/usr/bin:/bin", "ARTEFACT": str(built / spec.logical_id), "RUNTIME": str(runtime),
            "PACKAGE": spec.handler_package, "PHOTO": str(photo), "AWS_DEFAULT_REGION": "eu-west-1",
            "JOBS_TABLE": "t", "DATA_BUCKET": "b", "WEBHOOK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:s", "POWERTOOLS_TRACE_DISABLED": "1",
        }  # fmt: skip
        done = subprocess.run([python312, "-I", "-c", SMOKE], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{spec.logical_id}: {done.stderr[-2000:]}"
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines[-1] == {"handler": True}
        if spec.handler_package == "on_upload":
            assert lines[0]["accepted"] is True and lines[0]["models"].startswith(str(built / spec.logical_id))
            # The eye models ran under LiteRT from the artefact itself.
            assert lines[0]["eye_openness"] > 0.2
