"""Offline `sam build`: Lambda artefacts for python3.12 / x86_64 without Docker.

For every AWS::Serverless::Function in template.yaml:
  .aws-sam/build/<LogicalId>/   the handler package, the `headshot` domain package, its
                                requirements (cross-platform manylinux wheels only) and,
                                for the validator, the two allowed dlib model files and
                                MediaPipe's face-landmark, iris and face-detection models
and .aws-sam/build/template.yaml (the template with each CodeUri pointing at its artefact),
which is where `sam deploy` looks first. Packages the Lambda runtime already provides
(boto3, botocore, s3transfer) are not bundled.

    python -m infra.build.lambdas [--out .aws-sam/build] [--function OnUploadFunction ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.template_loader import load_template

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR: Final = REPO_ROOT / "functions"
TEMPLATE: Final = REPO_ROOT / "template.yaml"
DEFAULT_OUT: Final = REPO_ROOT / ".aws-sam" / "build"
PYTHON_VERSION: Final = "3.12"
PLATFORMS: Final = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
# Provided by the python3.12 Lambda runtime; bundling them would only add ~90 MB.
RUNTIME_PROVIDED: Final = ("boto3", "botocore", "s3transfer")
LAMBDA_UNZIPPED_LIMIT: Final = 250 * 1024 * 1024
DLIB_MODELS: Final = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
SKIP: Final = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", "*.egg-info")


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    handler_package: str  # "api" for Handler "api.app.lambda_handler"

    @property
    def requirements(self) -> Path:
        return FUNCTIONS_DIR / self.handler_package / "requirements.txt"

    @property
    def needs_face_models(self) -> bool:
        return any(line.strip().startswith("dlib") for line in self.requirements.read_text().splitlines())


def functions_in(template: dict[str, Any]) -> list[FunctionSpec]:
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            handler = str(resource["Properties"]["Handler"])
            specs.append(FunctionSpec(logical_id, handler.split(".")[0]))
    return specs


def install_requirements(requirements: Path, cache: Path) -> Path:
    """pip-install a requirements file for the Lambda platform once per distinct content."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = cache / digest
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    command = [
        # --no-compile: .pyc from this interpreter would not match python3.12 anyway.
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--implementation", "cp", "--python-version", PYTHON_VERSION,
        "--only-binary=:all:", "--upgrade", "-r", str(requirements),
    ]  # fmt: skip
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command, check=True)
    for name in RUNTIME_PROVIDED:
        for path in target.glob(f"{name}*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    # numpy ships its own test suite (~15 MB) that nothing imports at run time.
    for tests in target.glob("numpy/**/tests"):
        shutil.rmtree(tests)
    (target / ".complete").touch()
    return target


def face_model_dir() -> Path:
    from headshot.faces import default_model_dir

    return default_model_dir()


def build_function(spec: FunctionSpec, out: Path, cache: Path) -> Path:
    artefact = out / spec.logical_id
    shutil.rmtree(artefact, ignore_errors=True)
    shutil.copytree(
        install_requirements(spec.requirements, cache), artefact, ignore=shutil.ignore_patterns(".complete")
    )
    shutil.copytree(FUNCTIONS_DIR / "headshot", artefact / "headshot", ignore=SKIP)
    shutil.copytree(FUNCTIONS_DIR / spec.handler_package, artefact / spec.handler_package, ignore=SKIP)
    if spec.needs_face_models:
        # Only the licence-clean files the checks load; never the whole package (100+ MB, 68-point model).
        models = artefact / "models" / "dlib"
        models.mkdir(parents=True)
        for name in DLIB_MODELS:
            shutil.copy2(face_model_dir() / name, models / name)
        # The photo-check models (face landmarks, iris, face detection), hash-checked; the
        # selfie-segmentation model is the container's alone.
        from headshot.mediapipe_models import PHOTO_CHECK_MODELS, default_model_dir, model_path

        eye_models = artefact / "models" / "mediapipe"
        eye_models.mkdir(parents=True)
        for model in PHOTO_CHECK_MODELS:
            shutil.copy2(model_path(default_model_dir(), model), eye_models / model.name)
    return artefact


def unzipped_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def built_template(template: dict[str, Any], out: Path) -> dict[str, Any]:
    built: dict[str, Any] = json.loads(json.dumps(template))
    for spec in functions_in(template):
        built["Resources"][spec.logical_id]["Properties"]["CodeUri"] = spec.logical_id
    globals_function = built.get("Globals", {}).get("Function", {})
    globals_function.pop("CodeUri", None)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "build" / "lambda-deps")
    parser.add_argument("--function", action="append", dest="functions", metavar="LOGICAL_ID")
    parser.add_argument(
        "--deps-only", action="store_true", help="only fill the wheel cache: the one-time, networked part of a build"
    )
    args = parser.parse_args(argv)
    template = load_template(TEMPLATE)
    specs = [s for s in functions_in(template) if not args.functions or s.logical_id in args.functions]
    if args.deps_only:
        for requirements in sorted({spec.requirements for spec in specs}):
            try:
                install_requirements(requirements, args.cache)
            except subprocess.CalledProcessError:
                where = requirements.relative_to(REPO_ROOT)
                print(f"pip could not install {where} (see its output above)", file=sys.stderr)
                return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    report = {}
    for spec in specs:
        artefact = build_function(spec, args.out, args.cache)
        report[spec.logical_id] = unzipped_size(artefact)
    # JSON is YAML: `sam deploy` reads this as .aws-sam/build/template.yaml.
    (args.out / "template.yaml").write_text(json.dumps(built_template(template, args.out), indent=1))
    over = False
    print(f"{'function':<22} {'unzipped MB':>12}  (Lambda limit 250 MB)")
    for logical_id, size in report.items():
        over |= size > LAMBDA_UNZIPPED_LIMIT
        print(f"{logical_id:<22} {size / 1024 / 1024:>12.1f}")
    print(f"template: {args.out / 'template.yaml'}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
