"""Backends turn a person's accepted photos into headshots; this module holds their contract.

A backend is loaded once per process (`load`) and then asked for images (`generate`). It
only generates: decoding the photos before and scoring the results after are shared by
every backend (`headshot_inference.render`), so all of them are judged the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np

from headshot.settings import ConfigurationError
from headshot_inference.styles import STYLES

if TYPE_CHECKING:
    from headshot.faces import FaceMeasurement

OUTPUT_SIZE: Final = 1024

# IPTC Digital Source Type (http://cv.iptc.org/newscodes/digitalsourcetype/), written into
# every output's XMP. See inference_container/README.md for why each backend uses which.
IPTC_DST: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/"
DST_TRAINED_ALGORITHMIC_MEDIA: Final = IPTC_DST + "trainedAlgorithmicMedia"
DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA: Final = IPTC_DST + "compositeWithTrainedAlgorithmicMedia"
DST_COMPOSITE_SYNTHETIC: Final = IPTC_DST + "compositeSynthetic"
DST_ALGORITHMICALLY_ENHANCED: Final = IPTC_DST + "algorithmicallyEnhanced"


@dataclass(frozen=True, slots=True)
class SourcePhoto:
    """One accepted photo: upright 8-bit sRGB pixels and the face measured on it."""

    name: str
    image: np.ndarray  # RGB uint8 (H, W, 3): the normalised copy (long side <= 2048)
    face: FaceMeasurement  # measured on the analysis copy
    face_scale: float  # `image` pixels per analysis pixel

    @property
    def landmarks(self) -> np.ndarray:
        """The 5 landmarks in `image` pixels."""
        points: np.ndarray = self.face.landmarks * self.face_scale
        return points


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    style: str
    variant: int  # 0..variants-1 within its style
    seed: int  # the per-image seed: the same request renders the same image again
    image: np.ndarray  # RGB uint8 (OUTPUT_SIZE, OUTPUT_SIZE, 3)
    # Index of the photo the image was made from; None when it draws on all of them.
    source: int | None
    digital_source_type: str
    # What the backend had to compromise on, for the manifest (e.g. a wider frame because
    # the photo is small).
    notes: tuple[str, ...] = ()


class Backend(Protocol):
    name: str
    # Whether another seed draws another person-level image (diffusion), so an output that
    # fails the fidelity gate is worth generating again (regenerate.py); the studio backend's
    # seed only moves the backdrop's light.
    seed_sensitive: bool

    def load(self) -> None:
        """Load models (once, at start). Raises ConfigurationError when it cannot."""

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        """`variants` images for every style, from one person's accepted photos."""
        ...


def image_seed(seed: int, style: str, variant: int) -> int:
    """A stable 32-bit seed per (request seed, style, variant), independent of the others."""
    state = np.random.SeedSequence([seed, STYLES.index(style), variant]).generate_state(1)
    return int(state[0])


@dataclass(frozen=True, slots=True)
class PlannedImage:
    style: str
    variant: int
    seed: int
    source: int


def plan(photo_count: int, styles: Sequence[str], variants: int, seed: int) -> list[PlannedImage]:
    """Which photo each output is made from: the best one, for every style and variant.

    Photos come ordered best first (render.py). One photo throughout keeps the person's
    look consistent across a job's images; variants differ in crop and light instead.
    A backend that cannot use the first photo moves on to the next itself.
    """
    if photo_count < 1:
        return []
    return [
        PlannedImage(style, variant, image_seed(seed, style, variant), 0)
        for style in styles
        for variant in range(variants)
    ]


def create_backend(name: str, *, model_dir: Path) -> Backend:
    """The backend called `name`; ConfigurationError when it cannot run in this image."""
    if name == "studio":
        from headshot_inference.backends.studio import StudioBackend

        return StudioBackend()
    if name == "diffusion":
        missing = [module for module in ("torch", "diffusers") if importlib.util.find_spec(module) is None]
        if missing:
            raise ConfigurationError(
                f"the diffusion backend needs {' and '.join(missing)}, which are not installed "
                "(install the 'inference' extra or use HEADSHOT_BACKEND=studio)"
            )
        try:
            module = importlib.import_module("headshot_inference.backends.diffusion")
        except ModuleNotFoundError as exc:
            if exc.name != "headshot_inference.backends.diffusion":
                raise
            raise ConfigurationError("the diffusion backend is not part of this build") from None
        backend: Backend = module.DiffusionBackend(model_dir)
        return backend
    raise ConfigurationError(f"unknown backend {name!r} (known: studio, diffusion)")
