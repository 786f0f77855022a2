"""GET /v1/styles: the catalogue every job may ask for (the contract's, shared with the container)."""

from __future__ import annotations

from typing import Any

from headshot.views import style_catalogue


def list_styles() -> dict[str, Any]:
    return style_catalogue()
