"""Style ids the container renders (the API's StyleId enum in docs/openapi.yaml)."""

from __future__ import annotations

from typing import Final

STUDIO_GRAY: Final = "studio_gray"
STUDIO_WHITE: Final = "studio_white"
STUDIO_BLUE: Final = "studio_blue"
OFFICE_BLUR: Final = "office_blur"

STYLES: Final = (STUDIO_GRAY, STUDIO_WHITE, STUDIO_BLUE, OFFICE_BLUR)
DEFAULT_STYLE: Final = STUDIO_GRAY
MAX_VARIANTS: Final = 8
