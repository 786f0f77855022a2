"""The studio matte on a drawn person: what the skin edges do, pixel by pixel (no models, no photos)."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import pytest

from headshot.color import delta_e_2000
from headshot_inference.backends.studio import matte, skin_edge

pytestmark = pytest.mark.container

SIDE: Final = 1024
EYE_DISTANCE: Final = 250.0
EYES: Final = (512.0, 300.0)
SKIN: Final = (150, 100, 80)
BACKDROP: Final = (40, 70, 160)  # a blue room: neither light nor grey
WRAP: Final = (205, 200, 198)  # a blown, nearly grey line of back light
WRAP_WIDTH: Final = 14  # px: obama3's neck line, ~8 photo px at its 1.6x upscale
WRAP_ROWS: Final = slice(620, 820)


def lab(rgb: np.ndarray) -> np.ndarray:
    converted: np.ndarray = cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return converted.reshape(-1, 3)


def face_over_neck(left: int, right: int) -> np.ndarray:
    """A face (an ellipse) over a neck from column `left` to `right` (bool)."""
    person = np.zeros((SIDE, SIDE), np.uint8)
    cv2.ellipse(person, (512, 420), (180, 230), 0, 0, 360, 1, -1)
    person[560:, left:right] = 1
    return person > 0


def textured(photo: np.ndarray, seed: int) -> np.ndarray:
    """A little noise, as a photo has: the guided filter and the colour estimates see real variance."""
    noise = np.random.default_rng(seed).normal(0, 2.0, photo.shape)
    return np.clip(photo + noise, 0, 255).astype(np.uint8)


def drawn_person() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, person mask, the back-lit line's pixels): a face over a neck, on blue, with
    a grey-white line of back light along the neck's left outline."""
    person = face_over_neck(400, 624)
    photo = np.empty((SIDE, SIDE, 3), np.uint8)
    photo[:] = BACKDROP
    photo[person] = SKIN
    line = np.zeros_like(person)
    line[WRAP_ROWS, 400 : 400 + WRAP_WIDTH] = True
    photo[line] = WRAP
    return textured(photo, seed=0), person, line


def test_a_back_lit_line_along_the_neck_takes_the_skins_colour() -> None:
    # Given a neck whose outline carries a 14 px grey-white line of back light (the room behind it bright)
    photo, person, line = drawn_person()
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, foreground = matte.matte(alpha, photo, EYE_DISTANCE, EYES)
    # Then the neck keeps its width (the line is the person's edge, not backdrop) ...
    rows = alpha_out[WRAP_ROWS]
    assert np.all(rows[:, 400 + 3 : 400 + WRAP_WIDTH] > 0.9), "the neck's edge was cut into"
    # ... and what shows of the line is the neck's own skin, not a white crescent
    shown = line & (alpha_out > 0.5)
    colours = foreground[shown]
    distances = np.array([delta_e_2000(lab(np.array(SKIN))[0], c) for c in lab(colours)[::7]])
    assert np.percentile(distances, 95) < 6.0, np.percentile(distances, [50, 95])


def test_skin_away_from_a_line_keeps_its_colour() -> None:
    # Given the same drawn person
    photo, person, line = drawn_person()
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    _, foreground = matte.matte(alpha, photo, EYE_DISTANCE, EYES)
    # Then the neck's other outline (no line there) and its inside are the photo's own colours
    inside = person & ~line
    inside[:, :430] = False
    inside[:560] = False
    difference = np.abs(foreground[inside] - photo[inside].astype(np.float32)).max(axis=1)
    assert np.percentile(difference, 99) < 12.0, np.percentile(difference, [50, 99])


WALL: Final = (190, 190, 215)  # a pale lavender wall (obama2's, between his neck and a neighbour)


def drawn_jaw_with_wall_in_its_corner(
    wall: tuple[int, int, int], corner: list[tuple[int, int]], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, person mask as the canvas matte gives it, the corner's wall): a face over a
    narrower neck before a wall; the mask also holds the wall inside the polygon `corner`, in
    the notch between the jaw and the neck (GrabCut's colour model took it for the white shirt)."""
    person = face_over_neck(440, 584)
    photo = np.empty((SIDE, SIDE, 3), np.float32)
    photo[:] = wall
    photo[person] = SKIN
    polygon = np.zeros((SIDE, SIDE), np.uint8)
    cv2.fillPoly(polygon, [np.array(corner, np.int32)], 1)
    wall_only = (polygon > 0) & ~person
    return textured(photo, seed=seed), person | wall_only, wall_only


def corner_kept_when_cut(photo: np.ndarray, mask: np.ndarray, corner: np.ndarray) -> float:
    """The share of the corner's wall (beyond 4 px of the true outline) the matte keeps, after
    asserting that the jaw and neck keep their outline."""
    alpha_out, _ = matte.matte(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0), photo, EYE_DISTANCE, EYES)
    person = mask & ~corner
    inside = cv2.erode(person.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert float((alpha_out[inside] > 0.9).mean()) > 0.999
    away = corner & (cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 3) > 4)
    return float((alpha_out[away] > 0.5).mean())


def test_a_wedge_of_wall_the_mask_holds_below_the_jaw_is_cut() -> None:
    # Given a canvas matte that holds a wedge of pale lavender wall in the notch between jaw and
    # neck, ~0.18 x 0.22 d (obama2, under his ear lobe: a pale-grey wedge on every backdrop)
    photo, mask, wedge = drawn_jaw_with_wall_in_its_corner(WALL, [(395, 615), (440, 615), (440, 670)], seed=4)
    # When the matte is cut
    kept = corner_kept_when_cut(photo, mask, wedge)
    # Then the wedge is backdrop, but for the feather along the true outline and the fillet the
    # skin edge's closing leaves in the jaw-neck corner (77 % of it stayed before, 14 % now),
    # and the jaw and neck keep their outline
    assert kept < 0.3, kept


SHEEN: Final = (215, 215, 225)  # a streak of hard light along the jaw's underside ...
SPECK: Final = (175, 180, 188)  # ... and a pale grey highlight on the curtain beside it


def test_a_pale_speck_of_backdrop_beside_the_jaw_is_not_kept() -> None:
    # Given a pale grey highlight on the backdrop just outside the jaw, within the band the colour
    # estimate judges, where a streak of light along the jaw makes the nearby person colour pale
    # too: it reads as part person, an island apart from the person (biden: a grey-white smudge
    # beside his left jaw on every backdrop)
    person = face_over_neck(400, 624)
    photo = np.empty((SIDE, SIDE, 3), np.uint8)
    photo[:] = BACKDROP
    photo[person] = SKIN
    outline = person & (cv2.erode(person.astype(np.uint8), np.ones((25, 25), np.uint8)) == 0)
    outline[:480] = False
    outline[:, 512:] = False
    photo[outline] = SHEEN
    speck = np.zeros((SIDE, SIDE), np.uint8)
    cv2.circle(speck, (330, 520), 6, 1, -1)  # ~14 px outside the jaw, 0.9 d below the eyes
    photo[speck > 0] = SPECK
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, _ = matte.matte(alpha, textured(photo, seed=6), EYE_DISTANCE, EYES)
    # Then the speck is backdrop
    assert float(alpha_out[speck > 0].max()) < 0.05, float(alpha_out[speck > 0].max())
    # And the jaw beside it keeps its outline
    inside = cv2.erode(person.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert float((alpha_out[inside] > 0.9).mean()) > 0.999


GREY_WALL: Final = (182, 180, 188)  # a pale, nearly grey wall (obama2's, under his right ear lobe)


def test_a_pocket_of_pale_wall_the_mask_holds_deep_inside_is_cut() -> None:
    # Given a canvas matte that holds a pocket of pale grey wall in the corner under the jaw,
    # 0.24 x 0.36 d, deeper than the edge band the colour estimate judges (obama2's right ear
    # lobe, obama's left: a pale corner on every backdrop)
    photo, mask, pocket = drawn_jaw_with_wall_in_its_corner(GREY_WALL, [(380, 600), (440, 600), (440, 690)], seed=5)
    # When the matte is cut
    kept = corner_kept_when_cut(photo, mask, pocket)
    # Then the pocket is backdrop, but for the feather along the true outline (29 % stayed
    # before), and the jaw and neck keep their outline
    assert kept < 0.05, kept


def test_without_backdrop_nearby_no_pocket_is_cut() -> None:
    # Given a pale grey patch of the person at its outline (a highlight, a collar) where no sure
    # backdrop lies near: the frame's edge, where the band beyond the outline is all there is
    guide = np.empty((200, 200, 3), np.float32)
    guide[:] = SKIN
    guide[80:120, 150:] = GREY_WALL
    solid = np.zeros((200, 200), bool)
    solid[:, :190] = True
    no_backdrop = np.zeros((200, 200), bool)
    # When pockets of backdrop are looked for
    pocket = skin_edge._backdrop_pockets(
        guide, solid, no_backdrop, lab(np.array(SKIN, np.float32))[0], np.ones((200, 200), bool), 100.0
    )
    # Then none is found: the patch is not compared with itself as if it were the backdrop
    assert not pocket.any()


SUIT: Final = (38, 38, 48)
NAVY: Final = (25, 35, 85)  # a dark flag ...
PALE: Final = (226, 214, 220)  # ... beside a pale stripe, the two meeting at the shoulder
SHOULDER_TOP: Final = 760  # 1.84 eye distances below the eyes
STRIPE_EDGE: Final = 400


def drawn_shoulder_before_a_flag() -> tuple[np.ndarray, np.ndarray]:
    """(photo, person mask): a head over a dark suit whose shoulder runs under the edge
    between a navy flag (left) and a pale stripe (right)."""
    person = np.zeros((SIDE, SIDE), np.uint8)
    cv2.ellipse(person, (512, 360), (180, 230), 0, 0, 360, 1, -1)
    person[560:SHOULDER_TOP, 430:594] = 1  # the neck
    suit = np.zeros_like(person)
    suit[SHOULDER_TOP:, 150:874] = 1
    return before_a_flag(STRIPE_EDGE, [(person, SKIN), (suit, SUIT)], seed=2)


def before_a_flag(
    edge: int, parts: list[tuple[np.ndarray, tuple[int, int, int]]], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(photo, person mask): `parts` (mask, colour) painted in order over an out-of-focus
    flag, navy left of column `edge` and pale right of it (its edge soft, as behind a sharp
    subject), with a little noise."""
    flag = np.empty((SIDE, SIDE, 3), np.float32)
    flag[:, :edge] = NAVY
    flag[:, edge:] = PALE
    photo: np.ndarray = cv2.GaussianBlur(flag, (0, 0), 6.0)
    person = np.zeros((SIDE, SIDE), bool)
    for mask, colour in parts:
        photo[mask > 0] = colour
        person |= mask > 0
    return textured(photo, seed), person


def test_a_shoulder_under_a_backdrop_edge_has_no_grey_tick_or_smear() -> None:
    # Given a dark suit's shoulder running under the edge of a navy flag and a pale stripe
    # (obama2's left shoulder): there the backdrop's local mean is neither colour
    photo, person = drawn_shoulder_before_a_flag()
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, _ = matte.matte(alpha, photo, EYE_DISTANCE, EYES)
    # Then nothing above the shoulder's line is person: the navy, darker than that mean,
    # read as part suit (a grey tick at the edge and a smear along the navy side)
    above = alpha_out[SHOULDER_TOP - 40 : SHOULDER_TOP - 2, 150:430]
    assert int((above > 0.1).sum()) < 20, int((above > 0.1).sum())


HAIR: Final = (40, 35, 35)
LOW_EYES: Final = (512.0, 760.0)  # the eyes low in the frame: the crown well inside it
CROWN_EDGE: Final = 540  # where the flag's navy meets its pale stripe, above the crown


def drawn_crown_before_a_flag() -> tuple[np.ndarray, np.ndarray]:
    """(photo, person mask): dark hair over a face, the crown under the edge between a navy
    flag (left) and a pale stripe (right), out of focus."""
    hair = np.zeros((SIDE, SIDE), np.uint8)
    cv2.ellipse(hair, (512, 430), (240, 230), 0, 0, 360, 1, -1)
    head = np.zeros_like(hair)
    cv2.ellipse(head, (512, 650), (200, 270), 0, 0, 360, 1, -1)
    return before_a_flag(CROWN_EDGE, [(hair, HAIR), (head, SKIN)], seed=3)


def test_a_crown_under_a_backdrop_edge_has_no_grey_tick() -> None:
    # Given dark hair whose crown meets the edge of a navy flag and a pale stripe (obama2)
    photo, person = drawn_crown_before_a_flag()
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, _ = matte.matte(alpha, photo, EYE_DISTANCE, LOW_EYES)
    # Then nothing stands above the hair at the flag's edge: the navy, darker than the mean
    # of navy and pale, read as part hair there (a grey tick 20 px tall, 518 px in all)
    outside = cv2.dilate(person.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
    beside_edge = outside[:, CROWN_EDGE - 80 : CROWN_EDGE + 40] & (
        alpha_out[:, CROWN_EDGE - 80 : CROWN_EDGE + 40] > 0.1
    )
    assert int(beside_edge.sum()) < 100, int(beside_edge.sum())
    # And the hair itself is whole: the crown's outline is where it was
    assert float(alpha_out[205:215, 500:520].mean()) > 0.9


LIT_SKIN: Final = (200, 145, 118)
CROWN_HAIR: Final = (84, 64, 55)  # grey-flecked dark hair on top ...
TEMPLE_HAIR: Final = (52, 39, 31)  # ... darker where it thins out at the temple
DARK_NAVY: Final = (23, 33, 66)
FOLD: Final = (16, 20, 38)  # the flag in a fold's shadow: darker and a little less blue
TEMPLE_EYES: Final = (512.0, 560.0)
TEMPLE_ROWS: Final = slice(400, 540)
TEMPLE_WIDTH: Final = 10  # px: thinner than the sure-person erosion and the segmenter's reach


def drawn_temple_fringe() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, person mask, the fringe's pixels): a lit face under a cap of dark hair, on a
    dark navy flag, with a thin fringe of darker hair along the left temple that the mask
    leaves out (obama2: the segmenter, GrabCut and the guided filter all dropped it)."""
    face = np.zeros((SIDE, SIDE), np.uint8)
    cv2.ellipse(face, (512, 560), (190, 300), 0, 0, 360, 1, -1)
    cap = np.zeros_like(face)
    cv2.ellipse(cap, (512, 470), (215, 240), 0, 0, 360, 1, -1)
    cap[400:] = 0
    wider = np.zeros_like(face)
    cv2.ellipse(wider, (512, 560), (190 + TEMPLE_WIDTH, 300 + TEMPLE_WIDTH), 0, 0, 360, 1, -1)
    fringe = np.zeros((SIDE, SIDE), bool)
    fringe[TEMPLE_ROWS, :512] = True
    fringe &= (wider > 0) & (face == 0) & (cap == 0)
    photo = np.empty((SIDE, SIDE, 3), np.uint8)
    photo[:] = DARK_NAVY
    photo[fringe] = TEMPLE_HAIR
    photo[face > 0] = LIT_SKIN
    photo[cap > 0] = CROWN_HAIR
    return textured(photo, seed=4), (face > 0) | (cap > 0), fringe


def drawn_temple_by_a_fold() -> tuple[np.ndarray, np.ndarray]:
    """(photo, person mask): the same head, where the fringe was a shadowed fold of the flag."""
    photo, person, fringe = drawn_temple_fringe()
    photo[fringe] = textured(np.full((int(fringe.sum()), 1, 3), FOLD, np.float32), seed=7)[:, 0]
    return photo, person


def test_a_thin_fringe_of_hair_at_the_temple_is_kept() -> None:
    # Given a thin fringe of dark hair along the temple, left out of the mask, where the nearby
    # person colour is the skin's: dark hair lies nowhere on the line from navy to skin
    # (obama2's left temple was a pale haze on every backdrop)
    photo, person, fringe = drawn_temple_fringe()
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, colour = matte.matte(alpha, photo, EYE_DISTANCE, TEMPLE_EYES)
    # Then the fringe is kept as hair, in the hair's own dark colour
    core = cv2.erode(fringe.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert float(alpha_out[core].mean()) > 0.8, float(alpha_out[core].mean())
    assert float(lab(colour[core])[:, 0].mean()) < 30
    # And the flag beside it stays backdrop
    beyond = (cv2.dilate((person | fringe).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0)[TEMPLE_ROWS]
    assert float(alpha_out[TEMPLE_ROWS][beyond].max()) < 0.1


def test_a_shadowed_fold_of_the_backdrop_at_the_temple_is_not_hair() -> None:
    # Given the same head without a fringe, a shadowed fold of the flag along its temple: the
    # fold is ~half the flag's light and fits "a little very dark hair over the flag" (0.1 of
    # the crown hair's shade), which is backdrop
    photo, person = drawn_temple_by_a_fold()
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, _ = matte.matte(alpha, photo, EYE_DISTANCE, TEMPLE_EYES)
    # Then nothing beyond the skin's own soft edge is read as hair
    beyond = (cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0)[TEMPLE_ROWS]
    assert float(alpha_out[TEMPLE_ROWS][beyond].max()) < 0.1


CREAM: Final = (236, 224, 192)  # out-of-focus lights behind the head
GAP: Final = (150, 128, 86)  # the darker, more saturated gap between two of them: tan
GREY_HAIR: Final = (92, 84, 84)  # short greying hair, close to the skull
TUFT_EYES: Final = (512.0, 600.0)
TUFT_ROWS: Final = slice(470, 490)  # 0.08 d thick, above the eye line
TUFT_REACH: Final = 40  # px beyond the head's outline: 0.16 d
HAIR_DEPTH: Final = 30  # px: short hair, 0.12 d


def drawn_head_with_a_tuft(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo, person mask, the tuft's pixels): a face under a thin cap of short grey hair, before
    cream lights, with a tuft of `colour` standing off the right temple that the mask holds."""
    face = np.zeros((SIDE, SIDE), np.uint8)
    cv2.ellipse(face, (512, 600), (190, 300), 0, 0, 360, 1, -1)
    hair = np.zeros_like(face)
    cv2.ellipse(hair, (512, 600), (190 + HAIR_DEPTH, 300 + HAIR_DEPTH), 0, 0, 360, 1, -1)
    hair[600:] = 0
    tuft = np.zeros((SIDE, SIDE), bool)
    tuft[TUFT_ROWS, 512 : 512 + 190 + HAIR_DEPTH + TUFT_REACH] = True
    tuft &= hair == 0
    photo = np.empty((SIDE, SIDE, 3), np.uint8)
    photo[:] = CREAM
    photo[hair > 0] = GREY_HAIR
    photo[face > 0] = LIT_SKIN
    photo[tuft] = colour
    return textured(photo, seed=8), (hair > 0) | tuft, tuft


def test_a_tuft_of_shadowed_backdrop_at_the_temple_is_cut() -> None:
    # Given a tan gap between two cream lights that the mask holds as a tuft off the temple:
    # darker than the lights' mean, it projects onto the line from the backdrop to the person
    # as person (obama3's right temple)
    photo, person, tuft = drawn_head_with_a_tuft(GAP)
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, _ = matte.matte(alpha, photo, EYE_DISTANCE, TUFT_EYES)
    # Then the tuft is backdrop: more tan than the cream, it is no colour of the grey hair over it
    away = tuft & (np.arange(SIDE)[None, :] > 512 + 190 + HAIR_DEPTH + 8)
    assert float(alpha_out[away].max()) < 0.1, float(alpha_out[away].max())
    # And the hair's outline beside it is whole
    assert float(alpha_out[430:440, 690:700].mean()) > 0.9, float(alpha_out[430:440, 690:700].mean())


def test_a_tuft_of_the_hairs_own_colour_is_kept() -> None:
    # Given the same tuft in the grey of the hair: a real tuft of hair
    photo, person, tuft = drawn_head_with_a_tuft(GREY_HAIR)
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.0)
    # When the matte is cut
    alpha_out, _ = matte.matte(alpha, photo, EYE_DISTANCE, TUFT_EYES)
    # Then it is kept, to its tip
    core = cv2.erode(tuft.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert float(alpha_out[core].mean()) > 0.9, float(alpha_out[core].mean())
