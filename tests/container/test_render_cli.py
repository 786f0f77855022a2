"""`headshot render` (headshot_inference.render.main): files in, images and manifest.json out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headshot_inference.render import EXIT_KEPT, EXIT_NONE_KEPT, EXIT_USAGE, main
from tests.container.conftest import png_bytes

pytestmark = pytest.mark.container


def test_render_writes_images_and_a_manifest(
    tmp_path: Path, astronaut: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a photo on disk
    photo = tmp_path / "me.png"
    photo.write_bytes(astronaut)
    out = tmp_path / "out"
    # When it is rendered in two styles
    code = main([str(photo), "--out", str(out), "--style", "studio_gray", "--style", "office_blur",
                 "--variants", "1", "--backend", "studio", "--json"])  # fmt: skip
    # Then it exits 0, and manifest.json names the images written beside it
    assert code == EXIT_KEPT
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.loads(capsys.readouterr().out) == manifest
    assert manifest["backend"] == "studio"
    assert {image["style"] for image in manifest["images"]} == {"studio_gray", "office_blur"}
    for image in manifest["images"]:
        assert (out / image["key"]).is_file()
        assert image["key"].endswith(".jpg")
    assert sorted(p.name for p in out.iterdir()) == sorted([*(i["key"] for i in manifest["images"]), "manifest.json"])


def test_render_exits_1_when_no_photo_is_usable(tmp_path: Path) -> None:
    # Given a photo with no face in it
    photo = tmp_path / "wall.png"
    photo.write_bytes(png_bytes(np.full((600, 600, 3), 180, np.uint8)))
    # When it is rendered
    code = main([str(photo), "--out", str(tmp_path / "out"), "--backend", "studio"])
    # Then nothing is kept: exit 1
    assert code == EXIT_NONE_KEPT


@pytest.mark.parametrize(
    "extra",
    [["--style", "oil_painting"], ["--variants", "0"], ["--variants", "9"]],
    ids=["unknown-style", "no-variants", "too-many-variants"],
)
def test_render_usage_errors_exit_2(tmp_path: Path, astronaut: bytes, extra: list[str]) -> None:
    photo = tmp_path / "me.png"
    photo.write_bytes(astronaut)
    assert main([str(photo), "--out", str(tmp_path / "out"), "--backend", "studio", *extra]) == EXIT_USAGE


def test_render_missing_file_exits_2(tmp_path: Path) -> None:
    assert main([str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "out")]) == EXIT_USAGE


def test_render_without_out_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "me.png")])
    assert exit_info.value.code == EXIT_USAGE
