"""The policy table and the multi-photo identity checks, on synthetic metrics and embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headshot.policy import (
    IDENTITY_MAX_DISTANCE,
    RULES,
    IdentityEvidence,
    Rule,
    assess_set,
    evaluate,
)
from headshot.reasons import REJECTION_MESSAGES, Reason

GOOD = {
    "faces_detected": 1, "short_side_px": 1500, "second_face_ratio": 0.0, "face_width_px": 400,
    "face_share": 0.3, "face_outside_share": 0.0, "face_margin_min": 0.8, "yaw_deg": 0.0, "pitch_deg": 0.0,
    "roll_deg": 0.0, "sharpness": 0.6, "face_luma_p95": 180, "face_dark_share": 0.0, "face_bright_share": 0.0,
    "face_luma_mean": 130, "lighting_balance": 0.0,
}  # fmt: skip


def test_good_metrics_pass_every_rule() -> None:
    assert evaluate(GOOD) == ([], [])


def _beyond(rule: Rule, threshold: float, amount: float = 0.01) -> float:
    return threshold - amount if rule.op == "<" else threshold + amount


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.code.value}:{r.metric}")
def test_each_rule_rejects_past_its_threshold_and_warns_before(rule: Rule) -> None:
    if rule.reject is not None:
        reasons, _ = evaluate(GOOD | {rule.metric: _beyond(rule, rule.reject)})
        assert rule.code in {r.code for r in reasons}
        # exactly at the threshold is still fine for rejection
        at_threshold, _ = evaluate(GOOD | {rule.metric: rule.reject})
        assert rule.code not in {r.code for r in at_threshold}
    if rule.warn is not None:
        reasons, warnings = evaluate(GOOD | {rule.metric: _beyond(rule, rule.warn)})
        assert rule.code in {w.code for w in warnings} and rule.code not in {r.code for r in reasons}


def test_no_face_skips_the_face_rules_and_says_so() -> None:
    reasons, _ = evaluate({"faces_detected": 0, "short_side_px": 200})
    assert [r.code for r in reasons] == [Reason.NO_FACE, Reason.RESOLUTION_TOO_LOW]


def test_a_code_is_never_both_a_reason_and_a_warning() -> None:
    reasons, warnings = evaluate(GOOD | {"face_width_px": 50, "face_share": 0.1})
    assert [r.code for r in reasons] == [Reason.FACE_TOO_SMALL]
    assert Reason.FACE_TOO_SMALL not in {w.code for w in warnings}


def test_every_code_has_a_message() -> None:
    assert set(REJECTION_MESSAGES) == set(Reason)


def test_calibration_doc_records_every_threshold() -> None:
    # The table in docs/CALIBRATION.md and the code must not drift apart.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "CALIBRATION.md").read_text()
    for rule in RULES:
        row = next((line for line in doc.splitlines() if f"`{rule.metric}`" in line and rule.code.value in line), None)
        assert row is not None, f"no row for {rule.code.value}/{rule.metric}"
        for value in (rule.reject, rule.warn):
            if value is not None:
                assert f"{value:g}" in row, f"{rule.metric}: {value:g} missing from: {row}"
    assert f"{IDENTITY_MAX_DISTANCE:g}" in doc


def _person(seed: int, noise: float = 0.1) -> IdentityEvidence:
    """An embedding near person `seed`'s centre, and a random (non-duplicate) chip signature."""
    rng = np.random.default_rng(seed)
    centre = np.random.default_rng(1000 + seed // 100).normal(0, 0.09, 128)
    signature = rng.normal(size=1024)
    return IdentityEvidence(
        (centre + rng.normal(0, noise / np.sqrt(128), 128)).astype(np.float32),
        (signature / np.linalg.norm(signature)).astype(np.float32),
    )


def test_majority_person_wins_and_others_are_different_person() -> None:
    # Given three photos of person A (seeds 0..2 → centre 10) and one of person B
    a = [_person(s) for s in (0, 1, 2)]
    b = _person(100)
    assert float(np.linalg.norm(a[0].embedding - b.embedding)) > IDENTITY_MAX_DISTANCE
    # When B comes first in upload order
    assessment = assess_set([b, *a])
    # Then A is the person and B's photo is rejected
    assert assessment.members == (1, 2, 3)
    assert {i: f.code for i, f in assessment.rejections.items()} == {0: Reason.DIFFERENT_PERSON}
    assert assessment.reference is not None


def test_with_no_majority_the_first_photo_defines_the_person() -> None:
    assessment = assess_set([_person(100), _person(0)])
    assert assessment.members == (0,)
    assert assessment.rejections[1].code is Reason.DIFFERENT_PERSON


def test_already_rejected_photos_are_ignored() -> None:
    assessment = assess_set([None, _person(0), None, _person(1)])
    assert assessment.members == (1, 3) and not assessment.rejections


def test_near_duplicate_needs_both_a_matching_chip_and_embedding() -> None:
    first = _person(0)
    same_chip = IdentityEvidence(_person(1).embedding, first.chip_signature)
    assessment = assess_set([first, same_chip, _person(2)])
    assert {i: f.code for i, f in assessment.rejections.items()} == {1: Reason.DUPLICATE_PHOTO}
    assert assessment.members == (0, 2)


def _with_openness(evidence: IdentityEvidence, openness: float | None) -> IdentityEvidence:
    return IdentityEvidence(evidence.embedding, evidence.chip_signature, openness)


def test_a_blink_among_the_persons_photos_is_eyes_closed() -> None:
    # Given three photos of one person with eyes at 0.30, 0.32 and 0.15 open (all above the floor)
    photos = [_with_openness(_person(s), o) for s, o in ((0, 0.30), (1, 0.32), (2, 0.15))]
    # When assessed as a set
    assessment = assess_set(photos)
    # Then the half-open one is rejected as eyes_closed, judged by the person's own eyes
    assert {i: f.code for i, f in assessment.rejections.items()} == {2: Reason.EYES_CLOSED}
    assert assessment.members == (0, 1)


def test_narrow_eyes_that_are_the_persons_own_pass_the_set_rule() -> None:
    # Given a person whose eyes measure 0.19-0.21 in every photo, and a photo with no mesh
    photos = [_with_openness(_person(s), o) for s, o in ((0, 0.19), (1, 0.21), (2, 0.2), (3, None))]
    # When assessed / Then nobody is rejected
    assessment = assess_set(photos)
    assert not assessment.rejections and assessment.members == (0, 1, 2, 3)


def test_empty_set_has_no_reference() -> None:
    assert assess_set([None, None]).reference is None
