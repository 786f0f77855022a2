"""`headshot check` contract: JSON shape, exit codes, set vs --each, broken files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.cli import main
from tests.support import images


@pytest.fixture
def portrait_files(tmp_path: Path) -> dict[str, Path]:
    portrait = images.astronaut()
    files = {
        "good": tmp_path / "portrait.png",
        "copy": tmp_path / "portrait-copy.jpg",
        "broken": tmp_path / "broken.jpg",
        "gif": tmp_path / "photo.jpg",  # a GIF named .jpg: judged by its bytes
    }
    files["good"].write_bytes(images.encode(portrait))
    files["copy"].write_bytes(images.encode(portrait, "JPEG", quality=85))
    files["broken"].write_bytes(images.truncated(images.encode(portrait, "JPEG")))
    files["gif"].write_bytes(images.animated("GIF"))
    return files


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_json_report_follows_the_contract(capsys: pytest.CaptureFixture[str], portrait_files: dict[str, Path]) -> None:
    # Given one good photo / When checked with --json
    code, report = _run_json(capsys, str(portrait_files["good"]))
    # Then exit 0 and exactly the contract's shape
    assert code == 0
    assert set(report) == {"photos", "summary"}
    assert report["summary"] == {"accepted": 1, "rejected": 0}
    (photo,) = report["photos"]
    assert set(photo) == {"file", "accepted", "reasons", "warnings", "metrics"}
    assert photo["file"] == str(portrait_files["good"]) and photo["accepted"] is True
    assert photo["reasons"] == []
    assert all(set(w) == {"code", "message"} for w in photo["warnings"])
    assert photo["metrics"]["faces_detected"] == 1


def test_broken_and_unsupported_files_are_rejected_not_crashes(
    capsys: pytest.CaptureFixture[str], portrait_files: dict[str, Path]
) -> None:
    code, report = _run_json(capsys, str(portrait_files["broken"]), str(portrait_files["gif"]), "--each")
    assert code == 1
    codes = [[r["code"] for r in p["reasons"]] for p in report["photos"]]
    assert codes == [["corrupt_image"], ["unsupported_format"]]
    assert report["summary"] == {"accepted": 0, "rejected": 2}


def test_set_checks_apply_without_each_only(
    capsys: pytest.CaptureFixture[str], portrait_files: dict[str, Path]
) -> None:
    pair = (str(portrait_files["good"]), str(portrait_files["copy"]))
    code, as_set = _run_json(capsys, *pair)
    assert code == 1
    assert as_set["photos"][1]["reasons"][0]["code"] == "duplicate_photo"
    code, each = _run_json(capsys, *pair, "--each")
    assert code == 0 and each["summary"] == {"accepted": 2, "rejected": 0}


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check", str(tmp_path / "missing.jpg")]) == 2
    assert "not a file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as no_args:
        main(["check"])
    assert no_args.value.code == 2


def test_table_output_lists_every_photo(capsys: pytest.CaptureFixture[str], portrait_files: dict[str, Path]) -> None:
    code = main(["check", str(portrait_files["good"]), str(portrait_files["gif"]), "--each"])
    out = capsys.readouterr().out
    assert code == 1
    assert "portrait.png" in out and "accepted" in out
    assert "photo.jpg" in out and "REJECTED" in out and "unsupported_format" in out
    assert "1 accepted, 1 rejected" in out


def test_console_script_is_installed(portrait_files: dict[str, Path]) -> None:
    # The `headshot` entry point next to this interpreter runs the same command.
    script = Path(sys.executable).with_name("headshot")
    done = subprocess.run([script, "check", "--json", portrait_files["good"]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["accepted"] == 1
