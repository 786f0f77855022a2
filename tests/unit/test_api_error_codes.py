"""Every error code the API answers with is documented with its status, in the OpenAPI document
and in docs/API.md, exactly as functions/api/errors.py maps it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import yaml
from api.errors import STATUS

DOCS: Final = Path(__file__).resolve().parents[2] / "docs"
# Answered by the handler's fault path, outside the code -> status table.
ANSWERED: Final = STATUS | {"internal_error": 500}


def test_the_openapi_lists_every_error_code_with_its_status() -> None:
    document = yaml.safe_load((DOCS / "openapi.yaml").read_text(encoding="utf-8"))
    code = document["components"]["schemas"]["ApiErrorDetail"]["properties"]["code"]
    assert code["x-status"] == ANSWERED
    assert sorted(code["enum"]) == sorted(ANSWERED)


def test_api_md_lists_every_error_code_with_its_status() -> None:
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    table = text.split("\n## Errors\n", 1)[1].split("\n### ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", table, flags=re.MULTILINE))
    assert {code: int(status) for code, status in rows.items()} == ANSWERED
