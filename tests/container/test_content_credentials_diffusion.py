"""The diffusion backend's outputs carry its source type and recipe hash in their signed claim.

Tiny random-weight SDXL components on the CPU (tests/container/test_diffusion.py builds them).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers")

import c2pa  # type: ignore[import-untyped]  # ships no type information

from headshot_inference.backends import (
    DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DST_TRAINED_ALGORITHMIC_MEDIA,
)
from headshot_inference.backends.diffusion import DiffusionBackend
from headshot_inference.content_credentials import ContentCredentials
from headshot_inference.metadata import read_xmp
from headshot_inference.regenerate import Budget
from headshot_inference.render import render
from infra.local.c2pa_test_chain import generate_test_chain
from tests.container.test_diffusion import build_tiny_model_dir

pytestmark = [pytest.mark.container, pytest.mark.slow]


def test_diffusion_outputs_name_generated_media_and_the_recipe_hash(tmp_path: Path, astronaut: bytes) -> None:
    # Given the diffusion backend on a tiny model dir, and a signer
    build_tiny_model_dir(tmp_path)
    backend = DiffusionBackend(tmp_path, device="cpu")
    backend.load()
    chain = generate_test_chain()
    trusting: Any = c2pa.Context.from_dict(
        {"verify": {"verify_trust": True}, "trust": {"trust_anchors": chain.root_pem}}
    )
    # When render() makes and signs its outputs (the first draw: redraws are signed the same way,
    # and each one is another tiny-model generation; test_render_regenerate.py covers them)
    result = render(
        [astronaut], ["studio_gray"], 1, 7, backend,
        credentials=ContentCredentials(chain.material), regenerations=Budget(0, 0),
    )  # fmt: skip
    # Then each one's claim says generated media, the diffusion backend and recipe.json's hash
    recipe = "sha256:" + hashlib.sha256((tmp_path / "recipe.json").read_bytes()).hexdigest()
    assert result.images
    for image in result.images:
        with c2pa.Reader(image.content_type, io.BytesIO(image.data), context=trusting) as reader:
            state, manifest = reader.get_validation_state(), reader.get_active_manifest()
        assert state == "Trusted"
        (assertion,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
        (action,) = assertion["data"]["actions"]
        assert action["digitalSourceType"] in (
            DST_TRAINED_ALGORITHMIC_MEDIA,
            DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        )
        assert action["parameters"] == {"backend": "diffusion", "recipe_version": recipe}
        xmp = read_xmp(image.data)
        assert xmp is not None and action["digitalSourceType"].encode() in xmp
