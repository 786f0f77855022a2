"""render(): outputs that fail the fidelity gate are generated again with new seeds, within a budget."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest

from headshot.checks import PhotoChecker
from headshot_inference.backends import GeneratedImage, SourcePhoto, image_seed, plan
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.regenerate import Budget, retry_seed
from headshot_inference.render import render

pytestmark = pytest.mark.container

STYLE = "studio_gray"


class FlakyBackend:
    """The studio backend, made seed-sensitive: outputs of the listed (seed, variant) pairs come
    out blank (no face: the gate fails them), every call is recorded."""

    name = "studio"
    seed_sensitive = True

    def __init__(self, studio: StudioBackend, blank: set[tuple[int, int]] | None = None, always: bool = False) -> None:
        self.studio = studio
        self.blank = blank or set()
        self.always = always
        self.calls: list[tuple[tuple[str, ...], int, int]] = []
        self._template: GeneratedImage | None = None

    def load(self) -> None:
        pass

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        self.calls.append((tuple(styles), variants, seed))
        if self.always:
            # Every output is blank whatever the studio draws: one real draw gives the fields
            # (source, notes, source type) the studio backend fills in, the rest are its blanks.
            if self._template is None:
                self._template = self.studio.generate(photos, styles[:1], 1, seed)[0]
            blank = dataclasses.replace(self._template, image=np.full_like(self._template.image, 128))
            return [
                dataclasses.replace(blank, style=item.style, variant=item.variant, seed=item.seed)
                for item in plan(len(photos), styles, variants, seed)
            ]
        images = self.studio.generate(photos, styles, variants, seed)
        return [
            dataclasses.replace(image, image=np.full_like(image.image, 128))
            if (seed, image.variant) in self.blank
            else image
            for image in images
        ]


def test_an_output_that_fails_the_gate_is_drawn_again_with_a_new_seed(
    astronaut: bytes, studio: StudioBackend, checker: PhotoChecker
) -> None:
    # Given a seed-sensitive backend whose first draw of variant 2 fails the gate
    backend = FlakyBackend(studio, blank={(7, 1)})
    # When two variants are rendered with regenerations allowed
    result = render([astronaut], [STYLE], 2, 7, backend, checker=checker, regenerations=Budget(2, 8))
    # Then variant 2 was drawn once more, alone, with the first retry seed, and is kept
    assert backend.calls == [((STYLE,), 2, 7), ((STYLE,), 1, retry_seed(7, 1))]
    by_variant = {image.variant: image for image in result.images}
    assert by_variant[1].kept and by_variant[1].attempts == 2
    assert by_variant[1].seed == image_seed(retry_seed(7, 1), STYLE, 0)
    assert by_variant[0].kept and by_variant[0].attempts == 1
    # and the manifest says how many attempts each image took
    entries = {entry["variant"]: entry for entry in result.manifest({})["images"]}
    assert (entries[0]["attempts"], entries[1]["attempts"]) == (1, 2)
    assert result.timings["regenerate_ms"] > 0


def test_regenerations_stop_at_the_per_image_and_total_budgets(
    astronaut: bytes, studio: StudioBackend, checker: PhotoChecker
) -> None:
    # Given a backend whose every draw fails the gate
    backend = FlakyBackend(studio, always=True)
    # When three variants are rendered with 2 regenerations per image but 4 in all
    result = render([astronaut], [STYLE], 3, 1, backend, checker=checker, regenerations=Budget(2, 4))
    # Then round 1 redraws all three, round 2 only the one the total leaves, and the job
    # reports its images as rejected
    assert [call[1] for call in backend.calls] == [3, 3, 1]
    assert sorted(image.attempts for image in result.images) == [2, 2, 3]
    assert not result.kept


def test_a_backend_whose_images_do_not_depend_on_the_seed_is_not_retried(
    astronaut: bytes, studio: StudioBackend, checker: PhotoChecker
) -> None:
    # Given a backend that does not say it is seed-sensitive, and fails the gate
    backend = FlakyBackend(studio, always=True)
    backend.seed_sensitive = False
    # When rendered, Then it is called once and its images are reported after one attempt
    result = render([astronaut], [STYLE], 1, 1, backend, checker=checker, regenerations=Budget(2, 8))
    assert len(backend.calls) == 1
    assert [image.attempts for image in result.images] == [1]


def test_the_budget_is_read_from_the_container_settings() -> None:
    from headshot_inference.settings import ContainerSettings

    # Given the regeneration variables set, When the settings are read, Then the budget follows them
    settings = ContainerSettings.from_env({"HEADSHOT_MAX_REGENERATIONS": "1", "HEADSHOT_MAX_REGENERATIONS_TOTAL": "3"})
    assert Budget.from_settings(settings) == Budget(1, 3)
    assert Budget.from_settings(ContainerSettings.from_env({})) == Budget(2, 8)
