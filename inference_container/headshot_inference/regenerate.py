"""Outputs that fail the fidelity gate, generated again with new seeds, within a bounded budget.

A diffusion output that drifts from the person (identity, skin tone, pose) is one draw of
the sampler: another seed is another draw, and often a good one. Each failed output is
redrawn up to `Budget.per_image` times, and a job redraws at most `Budget.total` outputs in
all (the GPU time a bad job can add is bounded); what still fails is reported as rejected.
Backends whose images do not depend on the seed (the studio backend: the seed only moves
the backdrop's light, not the person the gate judges) say `seed_sensitive = False` and are
not retried.

Retry seeds are derived from the request seed and the attempt number, so the same request
renders the same images, regenerations included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from headshot_inference.backends import Backend, GeneratedImage, SourcePhoto
    from headshot_inference.settings import ContainerSettings

_RETRY_SALT: Final = 0x2E6E


class Verdict(Protocol):
    @property
    def kept(self) -> bool: ...


V = TypeVar("V", bound=Verdict)


@dataclass(frozen=True, slots=True)
class Budget:
    per_image: int  # regenerations of one output (attempts = 1 + this, at most)
    total: int  # regenerations in one job

    @classmethod
    def from_settings(cls, settings: ContainerSettings) -> Budget:
        return cls(settings.max_regenerations, settings.max_regenerations_total)


def retry_seed(seed: int, attempt: int) -> int:
    """The request seed of regeneration round `attempt` (1, 2, …): stable per request."""
    state = np.random.SeedSequence([seed, attempt, _RETRY_SALT]).generate_state(1)
    return int(state[0])


def regenerate_failures(
    backend: Backend,
    sources: Sequence[SourcePhoto],
    generated: Sequence[GeneratedImage],
    verdicts: Sequence[V],
    seed: int,
    judge: Callable[[GeneratedImage], V],
    budget: Budget,
) -> tuple[list[GeneratedImage], list[V], list[int]]:
    """(images, verdicts, attempts per image) after redrawing the failed ones."""
    images, results = list(generated), list(verdicts)
    attempts = [1] * len(images)
    if not backend.seed_sensitive:
        return images, results, attempts
    spent = 0
    for attempt in range(1, budget.per_image + 1):
        failed = [i for i, verdict in enumerate(results) if not verdict.kept][: budget.total - spent]
        if not failed:
            break
        spent += len(failed)
        by_style: dict[str, list[int]] = {}
        for i in failed:
            by_style.setdefault(images[i].style, []).append(i)
        for style, positions in by_style.items():
            # One call per style: the failed variants are that style's variants this round.
            redrawn = backend.generate(sources, [style], len(positions), retry_seed(seed, attempt))
            for i, image in zip(positions, redrawn, strict=True):
                images[i] = dataclasses.replace(image, variant=images[i].variant)
                results[i] = judge(images[i])
                attempts[i] = attempt + 1
    return images, results, attempts
