"""Request bodies of the API, checked for shape (pydantic, strict: `true` is not a number).

What a body means (known styles, an allowed webhook host) is the use cases' to check.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from api.errors import ApiError
from headshot.contract import DEFAULT_STYLE, MAX_PHOTOS, MAX_VARIANTS
from headshot.usecases.create_job import NewJob
from headshot.usecases.regenerate_job import Regeneration

MAX_CLIENT_REFERENCE: Final = 128


def _distinct(styles: list[str]) -> list[str]:
    if len(set(styles)) != len(styles):
        raise ValueError("styles must not repeat")
    return styles


Styles = Annotated[list[str], Field(min_length=1), AfterValidator(_distinct)]
Variants = Annotated[int, Field(ge=1, le=MAX_VARIANTS)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CreateJobBody(_Body):
    photo_count: Annotated[int, Field(ge=1, le=MAX_PHOTOS)] = 1
    styles: Styles = Field(default_factory=lambda: [DEFAULT_STYLE])
    variants: Variants = 4
    webhook_url: str | None = None
    client_reference: Annotated[str, Field(max_length=MAX_CLIENT_REFERENCE)] | None = None

    def command(self) -> NewJob:
        return NewJob(self.photo_count, tuple(self.styles), self.variants, self.webhook_url, self.client_reference)


class RegenerateBody(_Body):
    styles: Styles | None = None
    variants: Variants | None = None

    def command(self) -> Regeneration:
        return Regeneration(tuple(self.styles) if self.styles is not None else None, self.variants)


def json_object(raw: str | None) -> dict[str, Any]:
    """The body as a JSON object; an absent body is an empty one."""
    try:
        body = json.loads(raw or "{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    return body


Body = TypeVar("Body", bound=_Body)


def parse(model: type[Body], raw: str | None) -> Body:
    body = json_object(raw)
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise ApiError(400, "invalid_request", f"{where}: {message}") from None
