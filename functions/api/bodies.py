"""Request bodies of the API, checked for shape (pydantic, strict: `true` is not a number).

What a body means (known styles, an allowed webhook host) is the use cases' to check.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from api.errors import ApiError
from headshot.contract import DEFAULT_STYLE, MAX_PHOTOS, MAX_VARIANTS
from headshot.usecases.create_job import NewJob
from headshot.usecases.regenerate_job import Regeneration

MAX_CLIENT_REFERENCE: Final = 128
# pydantic error types of a value outside its bounds (as opposed to a wrong shape or type);
# `value_error` is ours: styles that repeat.
OUT_OF_RANGE: Final = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long",
     "string_too_short", "string_too_long", "value_error"}
)  # fmt: skip


MAX_IDEMPOTENCY_KEY: Final = 255


def idempotency_key(headers: dict[str, str] | None) -> str | None:
    """The Idempotency-Key header (API Gateway lower-cases names): 1 to 255 printable ASCII characters."""
    key = (headers or {}).get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not all(" " < c <= "~" for c in key):
        raise ApiError(
            400, "invalid_request", f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
    return key


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


class WebhookTestBody(_Body):
    webhook_url: str


def raw_body(body: str | None, base64_encoded: bool) -> str | bytes | None:
    """The body as API Gateway passed it: bytes when it base64-encoded them (binary or not UTF-8)."""
    if body is None or not base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


def json_object(raw: str | bytes | None) -> dict[str, Any]:
    """The body as a JSON object; an absent body is an empty one.

    Only UTF-8 is JSON here (RFC 8259 §8.1): bytes in another encoding, text with a lone surrogate
    and nesting deeper than the parser's recursion are all `invalid_json`, never a 500.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else (raw or "").encode("utf-8").decode("utf-8")
        body = json.loads(text or "{}")
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    where = _ill_formed_text(body)
    if where is not None:
        # "\ud800" is valid JSON but no UTF-8 text: it would break every later serialisation
        # (the webhook body above all), so it is refused here, at the edge.
        raise ApiError(400, "invalid_request", f"{where}: not well-formed UTF-8 text (a lone surrogate)")
    return body


def _ill_formed_text(body: dict[str, Any]) -> str | None:
    """The path of the first string (key or value) that is not encodable as UTF-8, else None."""
    pending: list[tuple[str, Any]] = [("", body)]
    while pending:  # iterative: the depth is the client's to choose
        where, value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _encodable(key):
                    return where
                pending.append((f"{where}.{key}" if where else key, item))
        elif isinstance(value, list):
            pending.extend((f"{where}.{index}" if where else str(index), item) for index, item in enumerate(value))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Body = TypeVar("Body", bound=_Body)


def parse(model: type[Body], raw: str | bytes | None) -> Body:
    body = json_object(raw)
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        if first["type"] in OUT_OF_RANGE:
            # Well-formed and of the right type, but a value the API does not take (OpenAPI's 422).
            raise ApiError(422, "out_of_range", f"{where}: {message}") from None
        raise ApiError(400, "invalid_request", f"{where}: {message}") from None
