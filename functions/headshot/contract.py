"""The inference contract, one definition for both sides: the validator Lambdas write what the
container reads, and the container writes what the result function reads.

Here live the style catalogue, the limits, the S3 URI type, and the request and result
manifests as pydantic models (strict: `true` is not a number, `"4"` is not an integer).
Unknown top-level fields are ignored, so either side may be deployed first with a new field.
The control plane's own API bodies are not here (functions/api owns those).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, NamedTuple, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

# ---- limits -------------------------------------------------------------------------------

MAX_PHOTOS: Final = 20
MAX_VARIANTS: Final = 8
EMBEDDING_SIZE: Final = 128
SKIN_LAB_SIZE: Final = 3
MAX_ROUND: Final = 1_000_000
MAX_SEED: Final = 2**32 - 1

# ---- styles -------------------------------------------------------------------------------

STUDIO_GRAY: Final = "studio_gray"
STUDIO_WHITE: Final = "studio_white"
STUDIO_BLUE: Final = "studio_blue"
OFFICE_BLUR: Final = "office_blur"
DEFAULT_STYLE: Final = STUDIO_GRAY


class Style(NamedTuple):
    name: str
    description: str


# The API's StyleId enum (docs/openapi.yaml) and what the container renders, in this order.
STYLE_CATALOGUE: Final[dict[str, Style]] = {
    STUDIO_GRAY: Style("Studio grey", "Soft grey gradient backdrop, even studio light."),
    STUDIO_WHITE: Style("Studio white", "Clean white backdrop, bright and even."),
    STUDIO_BLUE: Style("Studio blue", "Deep blue backdrop, classic corporate portrait."),
    OFFICE_BLUR: Style("Office", "Your own background, strongly blurred like a fast lens."),
}
STYLES: Final = tuple(STYLE_CATALOGUE)


def unknown_styles(styles: list[str] | tuple[str, ...]) -> list[str]:
    return [style for style in styles if style not in STYLE_CATALOGUE]


# ---- S3 URIs ------------------------------------------------------------------------------

_S3_URI: Final = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.*)$")


@dataclass(frozen=True, slots=True)
class S3Location:
    """An object in a bucket: the one s3:// parser. As a pydantic field it reads and writes the URI."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> Self:
        """ValueError unless `uri` is s3://bucket/key."""
        match = _S3_URI.match(uri)
        if match is None or not cls._key_ok(match["key"]):
            raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
        return cls(match["bucket"], cls._normal_key(match["key"]))

    @staticmethod
    def _key_ok(key: str) -> bool:
        return bool(key)

    @staticmethod
    def _normal_key(key: str) -> str:
        return key

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def key_in(self, bucket: str) -> str:
        """The key, if this object is in `bucket`; anything else is not ours to read."""
        if self.bucket != bucket:
            raise ValueError(f"{self.uri} is outside the bucket {bucket}")
        return self.key

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def from_uri(uri: str) -> S3Location:
            try:
                return cls.parse(uri)
            except ValueError:
                raise PydanticCustomError("s3_uri", "must be an s3://bucket/key URI") from None

        from_json = core_schema.no_info_after_validator_function(from_uri, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_json,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_json]),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda location: location.uri),
        )


class S3Prefix(S3Location):
    """A prefix: the key may be empty (the bucket's root) and always ends in '/'."""

    __slots__ = ()

    @staticmethod
    def _key_ok(key: str) -> bool:
        return True

    @staticmethod
    def _normal_key(key: str) -> str:
        return key if not key or key.endswith("/") else key + "/"


# ---- field types --------------------------------------------------------------------------


def _finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise PydanticCustomError("finite", "must hold finite numbers only")
    return values


Embedding = Annotated[list[float], Field(min_length=EMBEDDING_SIZE, max_length=EMBEDDING_SIZE), AfterValidator(_finite)]
SkinLab = Annotated[list[float], Field(min_length=SKIN_LAB_SIZE, max_length=SKIN_LAB_SIZE), AfterValidator(_finite)]
JobId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]


def _styles(value: list[str]) -> list[str]:
    unknown = unknown_styles(value)
    if unknown:
        raise PydanticCustomError(
            "unknown_style", "unknown style(s) {unknown}; known: {known}",
            {"unknown": ", ".join(unknown), "known": ", ".join(STYLES)},
        )  # fmt: skip
    if len(set(value)) != len(value):
        raise PydanticCustomError("unique", "must not repeat")
    return value


StyleIds = Annotated[list[str], Field(min_length=1), AfterValidator(_styles)]


class _Document(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


# ---- the request manifest (control plane -> container) ------------------------------------


class ReferenceManifest(_Document):
    """What the validator measured on the accepted photos; every field optional, null means none.

    The container uses `embedding_mean` (or its older name `embedding`) as given, else the
    mean of `embeddings`.
    """

    embeddings: list[Embedding] | None = None
    embedding_mean: Embedding | None = None
    embedding: Embedding | None = None
    skin_lab: SkinLab | None = None


class RequestManifest(_Document):
    """The request document SageMaker hands the container (requests/{job}/r{round}.json)."""

    job_id: JobId
    round: Annotated[int, Field(ge=0, le=MAX_ROUND)] = 1
    photos: Annotated[list[S3Location], Field(min_length=1, max_length=MAX_PHOTOS)]
    styles: StyleIds
    variants: Annotated[int, Field(ge=1, le=MAX_VARIANTS)] = 4
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    output_prefix: S3Prefix
    reference: ReferenceManifest | None = None

    @field_validator("photos")
    @classmethod
    def _distinct(cls, photos: list[S3Location]) -> list[S3Location]:
        if len(set(photos)) != len(photos):
            raise PydanticCustomError("unique", "must not repeat")
        return photos

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


# ---- the result manifest (container -> control plane) -------------------------------------


class ResultImageEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    image_id: str
    # A bucket key or an s3:// URI of the data bucket; images that were not stored have none.
    key: str | None = None
    style: str = ""
    seed: int = 0
    variant: int = 0
    # Index into the request's `photos` of the photo it was made from; None: made from all of them.
    source_photo: int | None = None
    fidelity: dict[str, Any] = Field(default_factory=dict)
    kept: bool = False


class ResultManifest(BaseModel):
    """The container's output body (SageMaker's output object): every image with its verdict."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    images: list[ResultImageEntry]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    message: str


class FailureBody(BaseModel):
    """The container's failure body (SageMaker's failure object): a stable code and a plain message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    error: ErrorDetail


# ---- errors -------------------------------------------------------------------------------


def describe(error: ValidationError) -> tuple[str, str]:
    """(code, message) for the first problem: `unknown_style` for a style, else `invalid_request`."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    code = "unknown_style" if first["type"] == "unknown_style" else "invalid_request"
    return code, f"{where}: {first['msg']}"
