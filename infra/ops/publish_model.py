"""Publish inference model files to S3 in the layout the stack's ModelDataCompression names.

    python -m infra.ops.publish_model MODEL_DIR s3://bucket/prefix/ [--backend diffusion|studio] [--uncompressed]

MODEL_DIR is a diffusers-format pipeline plus recipe.json (docs/DIFFUSION.md), or nothing but
headshot.json for the studio backend. Two layouts, both ending up as /opt/ml/model:

* default (ModelDataCompression=Gzip): one s3://bucket/prefix/model.tar.gz with the folder's
  files at the archive root; SageMaker downloads and extracts it before the container starts.
* --uncompressed (ModelDataCompression=None): every file as its own object under
  s3://bucket/prefix/; SageMaker copies them as they are (no gunzip of ~10 GB at cold start).

The archive is normalised: files 0644, directories 0755, owner root (uid/gid 0, no names),
mtime 0, links stored as the files they point to. The container runs as a non-root user
(inference_container/Dockerfile), and SageMaker extracts as root, which keeps the archive's
modes and owners: a weight file packed from a 0600 working copy would be unreadable to it.
The same files always give the same bytes. Each model version goes under a new prefix: a
prefix that already holds objects is refused, so a running stack's model never changes under it.

Prints the two stack parameters to pass (`sam deploy --parameter-overrides ...`). Nothing is
downloaded from a hub.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What each backend needs at the top of the model directory (the container re-checks at start).
REQUIRED_FILES = {"diffusion": ("recipe.json", "model_index.json"), "studio": ()}
CONFIG_FILE = "headshot.json"
ARCHIVE_NAME = "model.tar.gz"
FILE_MODE = 0o644
DIR_MODE = 0o755
# Weights hardly compress (fp16 safetensors: a few per cent); level 1 packs 10 GB in minutes.
COMPRESS_LEVEL = 1


class PublishError(Exception):
    """The model cannot be published as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str  # relative POSIX path: the archive member, or the key under the prefix
    source: Path  # what to read (a link's target is read through the link)
    size: int


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
    problems.extend(_layout_problems(model_dir))
    return problems


def _layout_problems(model_dir: Path) -> Iterator[str]:
    # Links are published as the files they point to; linked folders would be skipped silently.
    for folder, dirs, files in os.walk(model_dir):
        for name in sorted(dirs + files):
            path = Path(folder, name)
            relative = path.relative_to(model_dir).as_posix()
            if path.is_symlink() and path.is_dir():
                yield f"{relative} links to a directory: copy it in"
            elif path.is_symlink() and not path.exists():
                yield f"{relative} is a broken link"


def model_files(model_dir: Path) -> list[ModelFile]:
    """Every regular file under the folder (links followed), sorted by name."""
    found = []
    for folder, _, files in os.walk(model_dir):
        for name in files:
            path = Path(folder, name)
            info = path.stat()  # follows links: a linked weight file is published as its content
            if stat.S_ISREG(info.st_mode):
                found.append(ModelFile(path.relative_to(model_dir).as_posix(), path, info.st_size))
    return sorted(found, key=lambda f: f.name)


def _member(name: str, *, directory: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = DIR_MODE if directory else FILE_MODE
    info.size = size
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def pack(model_dir: Path, archive: Path) -> Path:
    """model.tar.gz with the folder's contents at the root, normalised (see the module docstring)."""
    files = model_files(model_dir)
    directories = {parent for f in files for parent in map(str, Path(f.name).parents) if parent != "."}
    entries = sorted([(d, None) for d in directories] + [(f.name, f) for f in files], key=lambda e: e[0])
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=COMPRESS_LEVEL) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, file in entries:
            if file is None:
                tar.addfile(_member(name, directory=True))
            else:
                with file.source.open("rb") as content:
                    tar.addfile(_member(name, directory=False, size=file.size), content)
    return archive


def parse_destination(destination: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/") of s3://bucket/prefix/."""
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    if not destination.startswith("s3://") or not bucket or not prefix.endswith("/") or "//" in prefix:
        raise PublishError(f"{destination!r} is not an s3://bucket/prefix/ (ending in /) destination")
    return bucket, prefix


class S3ModelStore:
    """The S3 side of publishing. Owns the client; every ClientError becomes a PublishError."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def has_objects(self, bucket: str, prefix: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            listing = self._client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except ClientError as error:
            raise PublishError(f"cannot list s3://{bucket}/{prefix}: {error}") from error
        return bool(listing.get("KeyCount", 0))

    def upload(self, source: Path, bucket: str, key: str) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import ClientError

        try:
            self._client.upload_file(str(source), bucket, key)  # multipart above 8 MB, retried parts
        except (ClientError, S3UploadFailedError) as error:
            raise PublishError(f"cannot upload s3://{bucket}/{key}: {error}") from error


def publish(model_dir: Path, destination: str, store: S3ModelStore, *, uncompressed: bool) -> dict[str, str]:
    """Upload the (checked) folder in the chosen layout; return the stack parameters to set."""
    bucket, prefix = parse_destination(destination)
    if store.has_objects(bucket, prefix):
        raise PublishError(
            f"s3://{bucket}/{prefix} already holds objects: publish each model version under a new prefix "
            "(a stack may be reading this one; after a failed upload, delete the prefix and rerun)"
        )
    if uncompressed:
        for file in model_files(model_dir):
            store.upload(file.source, bucket, prefix + file.name)
        return {"ModelDataUrl": f"s3://{bucket}/{prefix}", "ModelDataCompression": "None"}
    with tempfile.TemporaryDirectory() as scratch:
        archive = pack(model_dir, Path(scratch) / ARCHIVE_NAME)
        store.upload(archive, bucket, prefix + ARCHIVE_NAME)
    return {"ModelDataUrl": f"s3://{bucket}/{prefix}{ARCHIVE_NAME}", "ModelDataCompression": "Gzip"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("destination", help="s3://bucket/prefix/ (a new prefix per model version)")
    parser.add_argument("--backend", choices=sorted(REQUIRED_FILES), default="diffusion")
    parser.add_argument(
        "--uncompressed", action="store_true", help="one object per file (ModelDataCompression=None), no archive"
    )
    args = parser.parse_args(argv)
    problems = check_model_dir(args.model_dir, args.backend)
    if problems:
        parser.error("; ".join(problems))
    import boto3  # only the command needs AWS; the checks above run without it

    try:
        store = S3ModelStore(boto3.client("s3"))
        parameters = publish(args.model_dir, args.destination, store, uncompressed=args.uncompressed)
    except PublishError as error:
        print(f"publish_model: {error}", file=sys.stderr)
        return 1
    print(" ".join(f"{name}={value}" for name, value in parameters.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
