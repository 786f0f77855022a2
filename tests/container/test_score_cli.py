"""`headshot score`: the gate as a command others script against (JSON shape, exit codes, table)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headshot.checks import PhotoChecker
from headshot_inference import fidelity
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.render import render
from headshot_inference.score import EXIT_KEPT, EXIT_REJECTED, EXIT_USAGE, main
from infra.cli import main as headshot_main
from tests.container.conftest import png_bytes
from tests.support.defects import blur_face

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, astronaut: bytes, studio: StudioBackend) -> dict[str, Path]:
    """A reference photo, two good outputs, a blurred one, a truncated JPEG and a text file."""
    folder = tmp_path_factory.mktemp("score")
    checker = PhotoChecker()
    paths = {"reference": folder / "me.png"}
    paths["reference"].write_bytes(astronaut)
    images = render(
        [astronaut], ["studio_gray", "studio_blue"], 1, 0, studio, image_format="jpeg", checker=checker
    ).images
    for image in images:
        paths[image.style] = folder / f"{image.style}.jpg"
        paths[image.style].write_bytes(image.data)
    good = np.asarray(Image.open(paths["studio_gray"]).convert("RGB"))
    face = checker.analyzer.analyse(good).main
    assert face is not None
    blurred = blur_face(2.0)(good, face, fidelity.default_segmenter())
    paths["blurred"] = folder / "blurred.jpg"
    Image.fromarray(blurred).save(paths["blurred"], quality=92)
    paths["truncated"] = folder / "truncated.jpg"
    paths["truncated"].write_bytes(images[0].data[: len(images[0].data) // 3])
    paths["text"] = folder / "notes.jpg"
    paths["text"].write_text("not an image at all\n")
    paths["blank"] = folder / "blank.png"
    paths["blank"].write_bytes(png_bytes(np.full((400, 400, 3), 128, np.uint8)))
    return paths


def run_json(capsys: pytest.CaptureFixture[str], *argv: Path | str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main([*map(str, argv), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_good_candidates_are_kept_exit_0(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Given two good outputs and the photo they came from,
    When they are scored with --json,
    Then exit 0 and the JSON has one entry per candidate, in order, with the documented keys."""
    code, report = run_json(capsys, "--reference", files["reference"], files["studio_gray"], files["studio_blue"])
    assert code == EXIT_KEPT
    assert list(report) == ["candidates"]
    candidates = report["candidates"]
    assert [c["file"] for c in candidates] == [str(files["studio_gray"]), str(files["studio_blue"])]
    for candidate in candidates:
        assert set(candidate) == {"file", "kept", "reasons", "fidelity"}
        assert candidate["kept"] is True and candidate["reasons"] == []
        numbers = candidate["fidelity"]
        assert numbers["baseline_photo"] == 0
        for key in ("identity_distance", "skin_tone_delta_e", "eye_colour_delta_e", "hair_iou", "sharpness_ratio"):
            assert isinstance(numbers[key], float), key


def test_a_defect_is_rejected_exit_1(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Given a good output and a blurred one,
    When both are scored,
    Then exit 1; the blurred one is rejected with `blurry` and a message, the good one kept."""
    code, report = run_json(capsys, "--reference", files["reference"], files["studio_gray"], files["blurred"])
    assert code == EXIT_REJECTED
    good, blurred = report["candidates"]
    assert good["kept"] is True
    assert blurred["kept"] is False
    assert "blurry" in [r["code"] for r in blurred["reasons"]]
    assert all(set(r) == {"code", "message"} and r["message"] for r in blurred["reasons"])


@pytest.mark.parametrize(
    ("name", "code"),
    [("truncated", "corrupt_image"), ("text", "corrupt_image"), ("blank", "no_face")],
)
def test_a_broken_or_faceless_candidate_is_rejected_not_a_crash(
    name: str, code: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a truncated JPEG, a text file named .jpg, or an image without a face,
    When it is scored beside a good output,
    Then it is a rejected candidate with a clear code, the good one still kept, exit 1."""
    exit_code, report = run_json(capsys, "--reference", files["reference"], files[name], files["studio_gray"])
    assert exit_code == EXIT_REJECTED
    broken, good = report["candidates"]
    assert broken["kept"] is False
    assert [r["code"] for r in broken["reasons"]] == [code]
    assert good["kept"] is True


def test_missing_reference_is_a_usage_error(files: dict[str, Path], tmp_path: Path) -> None:
    """Given a --reference that does not exist, When scoring, Then exit 2 before any model loads."""
    assert main(["--reference", str(tmp_path / "nope.jpg"), str(files["studio_gray"])]) == EXIT_USAGE


def test_reference_without_a_face_is_a_usage_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Given a reference photo with no face, When scoring, Then exit 2 naming it."""
    assert main(["--reference", str(files["blank"]), str(files["studio_gray"])]) == EXIT_USAGE
    assert "blank.png" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [[], ["cand.jpg"], ["--reference", "me.png"], ["--reference", "me.png", "c.jpg", "--x"]]
)
def test_argument_errors_exit_2(argv: list[str]) -> None:
    """Given no --reference, no candidate or an unknown option, When parsing, Then argparse exits 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_USAGE


def test_table_output(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Given a good and a blurred candidate, When scored without --json,
    Then a readable table: one row per candidate, reasons with codes, a summary line."""
    code = main(["--reference", str(files["reference"]), str(files["studio_gray"]), str(files["blurred"])])
    text = capsys.readouterr().out
    assert code == EXIT_REJECTED
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["candidate", "result", "details"]
    assert any(line.startswith("studio_gray.jpg") and " kept " in line for line in lines)
    assert any(line.startswith("blurred.jpg") and "REJECTED" in line for line in lines)
    assert "blurry:" in text
    assert lines[-1] == "1 kept, 1 rejected"


def test_wired_into_the_headshot_command(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Given the `headshot` console entry point, When `score` is run, Then it is the same command."""
    code = headshot_main(["score", "--reference", str(files["reference"]), str(files["studio_gray"]), "--json"])
    assert code == EXIT_KEPT
    assert json.loads(capsys.readouterr().out)["candidates"][0]["kept"] is True


def test_console_script_exit_codes(files: dict[str, Path]) -> None:
    """Given the installed `headshot` script in a fresh process,
    When a rejected candidate is scored, Then its exit status is 1 and stdout is the JSON."""
    script = Path(sys.executable).with_name("headshot")
    if not script.is_file():
        pytest.skip(f"no console script beside {sys.executable}")
    done = subprocess.run(
        [str(script), "score", "--reference", str(files["reference"]), str(files["truncated"]), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == EXIT_REJECTED, done.stderr
    assert json.loads(done.stdout)["candidates"][0]["reasons"][0]["code"] == "corrupt_image"
