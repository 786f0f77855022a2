"""Old import path, kept only for callers outside the control plane that still use it
(tests/integration/test_sagemaker_async_emulator.py, tests/infra/test_artifacts.py's check
that the domain package ships). New code imports the use cases from `headshot.usecases`,
the composition root from `headshot.wiring`. Remove once those callers have moved.
"""

from __future__ import annotations

from headshot.inference import parse_notification
from headshot.usecases import ports


class InferenceNotification(ports.InferenceNotification):
    """The use cases' notification with the adapter's parser at its old place."""

    __slots__ = ()

    @staticmethod
    def parse(body: str) -> ports.InferenceNotification | None:
        return parse_notification(body)


__all__ = ["InferenceNotification"]
