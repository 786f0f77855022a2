"""Style ids the container renders: the shared contract's catalogue (`headshot.contract`)."""

from __future__ import annotations

from headshot.contract import (
    DEFAULT_STYLE,
    MAX_VARIANTS,
    OFFICE_BLUR,
    STUDIO_BLUE,
    STUDIO_GRAY,
    STUDIO_WHITE,
    STYLES,
)

__all__ = ["DEFAULT_STYLE", "MAX_VARIANTS", "OFFICE_BLUR", "STUDIO_BLUE", "STUDIO_GRAY", "STUDIO_WHITE", "STYLES"]
