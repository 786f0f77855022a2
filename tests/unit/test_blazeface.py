"""The BlazeFace sentinel (headshot.blazeface) and the detection shortcut it allows (headshot.faces)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from headshot.blazeface import load_face_detector
from headshot.faces import Detection, FaceAnalyzer, load_models
from tests.support import images


class ScanRecorder(FaceAnalyzer):
    """The real analyzer, noting the size of every image HOG scans."""

    def __init__(self) -> None:
        super().__init__(load_models(), None, load_face_detector())
        self.scanned: list[tuple[int, int]] = []

    def _run(self, rgb: np.ndarray, *, upsample: int, factor: float) -> list[Detection]:
        self.scanned.append(rgb.shape[:2])
        return super()._run(rgb, upsample=upsample, factor=factor)


def test_sentinel_finds_each_face_and_nothing_in_a_photo_without_one() -> None:
    import skimage.data

    detector = load_face_detector()
    portrait = images.astronaut()
    # Given the astronaut alone, twice side by side, and a cup of coffee
    alone = detector.detect(portrait)
    pair = detector.detect(images.side_by_side(portrait, portrait))
    coffee = detector.detect(Image.fromarray(skimage.data.coffee()))
    # Then one face on her face box, two faces, and none
    assert len(alone) == 1 and alone[0].iou(images.ASTRONAUT_FACE) > 0.5
    assert len(pair) == 2
    assert coffee == []


def test_a_lone_face_is_found_by_scanning_only_a_crop_around_it() -> None:
    # Given a 1024 px photo with one face
    rgb = np.asarray(images.astronaut().resize((1024, 1024), Image.Resampling.LANCZOS))
    analyzer = ScanRecorder()
    # When faces are detected
    found = analyzer.detect(rgb)
    # Then the face is dlib's HOG box on her face, found from one small scan
    assert len(found) == 1
    left, top, right, bottom = (2 * v for v in images.ASTRONAUT_FACE)
    box = found[0]
    assert max(abs(box.left - left), abs(box.top - top), abs(box.right - right), abs(box.bottom - bottom)) < 30
    assert len(analyzer.scanned) == 1 and max(analyzer.scanned[0]) < 640


@pytest.mark.parametrize("layout", ["two faces", "no face"])
def test_without_exactly_one_face_the_whole_photo_is_scanned(layout: str) -> None:
    import skimage.data

    # Given two people, or no face at all
    portrait = images.astronaut()
    image = images.side_by_side(portrait, portrait) if layout == "two faces" else Image.fromarray(skimage.data.coffee())
    analyzer = ScanRecorder()
    # When faces are detected
    found = analyzer.detect(np.asarray(image))
    # Then HOG scanned the photo itself (as before the sentinel), and its verdict stands
    assert any(shape == np.asarray(image).shape[:2] for shape in analyzer.scanned)
    assert len(found) == (2 if layout == "two faces" else 0)
