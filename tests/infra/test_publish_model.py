"""The model-publishing ops command: refuses unusable folders, packs reproducibly and readably
for a non-root container, and uploads both layouts of the stack's ModelDataCompression."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from infra.ops.publish_model import PublishError, S3ModelStore, check_model_dir, main, pack, publish

pytestmark = pytest.mark.infra

REGION: Final = "eu-west-1"
BUCKET: Final = "models-bucket"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A diffusion folder written the way a umask-077 machine leaves it (owner-only modes)."""
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "recipe.json").write_text("{}")
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    (folder / "unet" / "config.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00weights" * 1000)
    for path in folder.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    folder.chmod(0o700)
    return folder


def all_keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_incomplete_diffusion_folder_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "recipe.json").write_text("{}")
    assert check_model_dir(tmp_path, "diffusion") == ["missing model_index.json"]
    assert check_model_dir(tmp_path / "nope", "studio") == [f"{tmp_path / 'nope'} is not a directory"]


def test_backend_mismatch_and_non_commercial_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "headshot.json").write_text(json.dumps({"backend": "studio"}))
    landmark_68_model = f"shape_predictor_{68}_face_landmarks.dat"  # built, so no loader-looking literal exists
    (tmp_path / landmark_68_model).write_bytes(b"x")
    problems = check_model_dir(tmp_path, "diffusion")
    assert "headshot.json declares backend 'studio', not 'diffusion'" in problems
    assert any("non-commercial" in p for p in problems)


def test_broken_links_and_linked_folders_are_refused(tmp_path: Path) -> None:
    # Given a studio folder with a link to nowhere and a link to a folder (which would be skipped)
    (tmp_path / "gone.safetensors").symlink_to(tmp_path / "missing")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "studio").mkdir()
    (tmp_path / "studio" / "vae").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    # Then both are reported
    assert check_model_dir(tmp_path / "studio", "studio") == ["vae links to a directory: copy it in"]
    assert check_model_dir(tmp_path, "studio") == [
        "gone.safetensors is a broken link",
        "studio/vae links to a directory: copy it in",
    ]


def test_pack_puts_files_at_the_archive_root_readable_by_any_user(model: Path, tmp_path: Path) -> None:
    # Given a complete folder whose files only their owner may read
    assert check_model_dir(model, "diffusion") == []
    # When it is packed
    with tarfile.open(pack(model, tmp_path / "model.tar.gz")) as tar:
        members = tar.getmembers()
    # Then the files sit at the archive root, each directory before its contents
    assert [m.name for m in members] == [
        "model_index.json",
        "recipe.json",
        "unet",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
    ]
    # And whoever extracts it (SageMaker, as root, keeps modes and owners) gets files the
    # container's non-root user can read and nobody but root can change
    for member in members:
        assert member.mode == (0o755 if member.isdir() else 0o644), member.name
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", ""), member.name
        assert member.mtime == 0, member.name


def test_pack_is_reproducible_and_stores_links_as_content(model: Path, tmp_path: Path) -> None:
    # Given the weights reached through a link (as in a Hugging Face cache snapshot)
    blob = tmp_path / "blob"
    blob.write_bytes(b"vae weights")
    (model / "vae").mkdir()
    (model / "vae" / "model.safetensors").symlink_to(blob)
    # When the folder is packed twice, its files touched in between
    first = pack(model, tmp_path / "first.tar.gz").read_bytes()
    for path in model.rglob("*"):
        os.utime(path, (1, 1), follow_symlinks=False)
    second = pack(model, tmp_path / "second.tar.gz").read_bytes()
    # Then both archives are the same bytes
    assert first == second
    # And the link is stored as the file it points to
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        member = tar.getmember("vae/model.safetensors")
        assert member.isfile()
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert extracted.read() == b"vae weights"


def test_publish_uploads_one_archive_and_names_the_parameters(s3: Any, model: Path) -> None:
    # When the folder is published in the default layout
    parameters = publish(model, f"s3://{BUCKET}/headshot/v1/", S3ModelStore(s3), uncompressed=False)
    # Then one archive is uploaded and the stack parameters point at it
    assert all_keys(s3) == ["headshot/v1/model.tar.gz"]
    assert parameters == {
        "ModelDataUrl": f"s3://{BUCKET}/headshot/v1/model.tar.gz",
        "ModelDataCompression": "Gzip",
    }
    body = s3.get_object(Bucket=BUCKET, Key="headshot/v1/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert "unet/diffusion_pytorch_model.safetensors" in tar.getnames()


def test_publish_uncompressed_uploads_each_file_under_the_prefix(s3: Any, model: Path) -> None:
    # When the folder is published uncompressed
    parameters = publish(model, f"s3://{BUCKET}/headshot/v2/", S3ModelStore(s3), uncompressed=True)
    # Then every file is an object at its relative path, with no zero-byte "folder" objects
    assert all_keys(s3) == [
        "headshot/v2/model_index.json",
        "headshot/v2/recipe.json",
        "headshot/v2/unet/config.json",
        "headshot/v2/unet/diffusion_pytorch_model.safetensors",
    ]
    weights = s3.get_object(Bucket=BUCKET, Key="headshot/v2/unet/diffusion_pytorch_model.safetensors")
    assert weights["Body"].read() == b"\x00weights" * 1000
    # And the stack parameters name the prefix (ending in "/", as S3Prefix requires)
    assert parameters == {"ModelDataUrl": f"s3://{BUCKET}/headshot/v2/", "ModelDataCompression": "None"}


def test_publish_refuses_a_used_prefix_a_bad_destination_and_a_missing_bucket(s3: Any, model: Path) -> None:
    store = S3ModelStore(s3)
    # Given a prefix that already holds a model
    s3.put_object(Bucket=BUCKET, Key="headshot/v1/model.tar.gz", Body=b"old")
    # Then publishing there again is refused, and the old object is untouched
    with pytest.raises(PublishError, match="already holds objects"):
        publish(model, f"s3://{BUCKET}/headshot/v1/", store, uncompressed=True)
    assert all_keys(s3) == ["headshot/v1/model.tar.gz"]
    # And so are a destination that is not a prefix and a bucket that does not exist
    with pytest.raises(PublishError, match="ending in /"):
        publish(model, f"s3://{BUCKET}/headshot/v3", store, uncompressed=False)
    with pytest.raises(PublishError, match="NoSuchBucket"):
        publish(model, "s3://no-such-bucket/headshot/v1/", store, uncompressed=False)


def test_command_prints_the_parameter_overrides(s3: Any, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When the command publishes uncompressed
    assert main([str(model), f"s3://{BUCKET}/headshot/v4/", "--uncompressed"]) == 0
    # Then it prints what `sam deploy --parameter-overrides` takes
    assert capsys.readouterr().out.strip() == f"ModelDataUrl=s3://{BUCKET}/headshot/v4/ ModelDataCompression=None"
