"""The inference request document (DESIGN.md §6), parsed strictly.

SageMaker async hands the container the bytes of the request object in S3, whatever
Content-Type it was given, so the body is parsed as JSON regardless of the header.
Unknown top-level fields are ignored (a newer validator may send more); known ones must be
well-formed, and anything wrong is a 400 naming the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from headshot_inference.errors import BadRequestError
from headshot_inference.styles import MAX_VARIANTS, STYLES

MAX_PHOTOS: Final = 20
EMBEDDING_SIZE: Final = 128
_JOB_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_S3_URI: Final = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.*)$")


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: object, field: str, *, prefix: bool = False) -> S3Location:
        match = _S3_URI.match(uri) if isinstance(uri, str) else None
        if match is None or (not prefix and not match["key"]):
            raise BadRequestError("invalid_request", f"{field} must be an s3://bucket/key URI")
        key = match["key"]
        if prefix and key and not key.endswith("/"):
            key += "/"
        return cls(match["bucket"], key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class Reference:
    """What the validator measured on the accepted photos (all optional)."""

    embedding: np.ndarray | None
    skin_lab: np.ndarray | None


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    job_id: str
    round: int
    photos: tuple[S3Location, ...]
    styles: tuple[str, ...]
    variants: int
    seed: int
    output_prefix: S3Location
    reference: Reference

    @classmethod
    def parse(cls, body: bytes) -> InferenceRequest:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise BadRequestError("invalid_json", "the request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise BadRequestError("invalid_request", "the request body must be a JSON object")
        missing = [name for name in ("job_id", "photos", "styles", "output_prefix") if name not in document]
        if missing:
            raise BadRequestError("invalid_request", f"missing field(s): {', '.join(missing)}")

        job_id = document["job_id"]
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise BadRequestError("invalid_request", "job_id must be 1-128 characters of A-Z a-z 0-9 _ . -")
        photos = document["photos"]
        if not isinstance(photos, list) or not 1 <= len(photos) <= MAX_PHOTOS:
            raise BadRequestError("invalid_request", f"photos must be a list of 1 to {MAX_PHOTOS} s3:// URIs")
        locations = tuple(S3Location.parse(uri, f"photos[{i}]") for i, uri in enumerate(photos))
        if len(set(locations)) != len(locations):
            raise BadRequestError("invalid_request", "photos must not repeat")
        return cls(
            job_id=job_id,
            round=_integer(document, "round", default=1, low=0, high=1_000_000),
            photos=locations,
            styles=parse_styles(document["styles"]),
            variants=_integer(document, "variants", default=4, low=1, high=MAX_VARIANTS),
            seed=_integer(document, "seed", default=0, low=0, high=2**32 - 1),
            output_prefix=S3Location.parse(document["output_prefix"], "output_prefix", prefix=True),
            reference=_reference(document.get("reference")),
        )


def parse_styles(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise BadRequestError("invalid_request", "styles must be a non-empty list of style ids")
    unknown = [s for s in value if s not in STYLES]
    if unknown:
        raise BadRequestError("unknown_style", f"unknown style(s) {', '.join(unknown)}; known: {', '.join(STYLES)}")
    if len(set(value)) != len(value):
        raise BadRequestError("invalid_request", "styles must not repeat")
    return tuple(value)


def _integer(document: dict[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = document.get(name, default)
    # bool is an int in Python; `true` is not a number in the contract.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequestError("invalid_request", f"{name} must be an integer from {low} to {high}")
    return value


def _vector(value: object, size: int, name: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != size:
        raise BadRequestError("invalid_request", f"{name} must be a list of {size} numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadRequestError("invalid_request", f"{name} must be a list of {size} numbers") from None
    if array.shape != (size,) or not np.isfinite(array).all():
        raise BadRequestError("invalid_request", f"{name} must be a list of {size} finite numbers")
    return array


def _reference(value: object) -> Reference:
    """What the validator measured; every field optional, empty lists and nulls mean "none".

    `{"embedding_mean" | "embedding": [128], "embeddings": [[128], ...], "skin_lab": [3]}`:
    the mean is used as given, else the mean of `embeddings`.
    """
    if value is None:
        return Reference(None, None)
    if not isinstance(value, dict):
        raise BadRequestError("invalid_request", "reference must be an object")
    embedding = None
    for name in ("embedding_mean", "embedding"):
        if value.get(name) is not None:
            embedding = _vector(value[name], EMBEDDING_SIZE, f"reference.{name}")
            break
    else:
        embeddings = value.get("embeddings")
        if embeddings is not None and not isinstance(embeddings, list):
            raise BadRequestError("invalid_request", "reference.embeddings must be a list")
        if embeddings:
            vectors = [_vector(e, EMBEDDING_SIZE, f"reference.embeddings[{i}]") for i, e in enumerate(embeddings)]
            embedding = np.mean(vectors, axis=0)
    skin_lab = _vector(value["skin_lab"], 3, "reference.skin_lab") if value.get("skin_lab") is not None else None
    return Reference(embedding, skin_lab)
