"""Publish inference model files to S3 as the SageMaker model artefact (model.tar.gz).

    python -m infra.ops.publish_model MODEL_DIR s3://bucket/prefix/ [--backend diffusion|studio]

Packs MODEL_DIR (a diffusers-format pipeline plus recipe.json, or nothing but headshot.json
for the studio backend) into model.tar.gz with the files at the archive root — SageMaker
extracts it into /opt/ml/model — uploads it with the SageMaker SDK (`ops` extra) and prints
the URL to pass as the stack's ModelDataUrl parameter. Nothing is downloaded from a hub.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from pathlib import Path

# What each backend needs at the top of the model directory (the container re-checks at start).
REQUIRED_FILES = {"diffusion": ("recipe.json", "model_index.json"), "studio": ()}
CONFIG_FILE = "headshot.json"


def check_model_dir(model_dir: Path, backend: str) -> list[str]:
    """Problems that would make the endpoint fail at start; empty when the folder is publishable."""
    if not model_dir.is_dir():
        return [f"{model_dir} is not a directory"]
    problems = [f"missing {name}" for name in REQUIRED_FILES[backend] if not (model_dir / name).is_file()]
    config = model_dir / CONFIG_FILE
    if config.is_file():
        try:
            declared = json.loads(config.read_text()).get("backend")
        except ValueError:
            problems.append(f"{CONFIG_FILE} is not valid JSON")
        else:
            if declared not in (None, backend):
                problems.append(f"{CONFIG_FILE} declares backend {declared!r}, not {backend!r}")
    if any("_68_" in p.name for p in model_dir.rglob("*.dat")):
        problems.append("the 68-point dlib landmark model is non-commercial and must not be published")
    return problems


def pack(model_dir: Path, archive: Path) -> Path:
    """model.tar.gz with the folder's contents at the root, sorted for reproducible archives."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return archive


def upload(archive: Path, destination: str) -> str:
    from sagemaker.s3 import S3Uploader  # the `ops` extra; never needed by the functions

    uri: str = S3Uploader.upload(str(archive), destination.rstrip("/"))
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("destination", help="s3://bucket/prefix/ for model.tar.gz")
    parser.add_argument("--backend", choices=sorted(REQUIRED_FILES), default="diffusion")
    args = parser.parse_args(argv)
    problems = check_model_dir(args.model_dir, args.backend)
    if problems:
        parser.error("; ".join(problems))
    with tempfile.TemporaryDirectory() as scratch:
        archive = pack(args.model_dir, Path(scratch) / "model.tar.gz")
        uri = upload(archive, args.destination)
    print(f"ModelDataUrl={uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
