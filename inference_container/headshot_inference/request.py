"""The inference request as the container uses it, read through the shared contract.

The document itself (fields, limits, styles, s3:// URIs) is defined once, in
`headshot.contract.RequestManifest`; this module turns it into the container's types and
its errors. SageMaker async hands the container the bytes of the request object in S3,
whatever Content-Type it was given, so the body is parsed as JSON regardless of the header.
Anything wrong is a 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import TypeAdapter, ValidationError

from headshot.contract import (
    EMBEDDING_SIZE,
    MAX_PHOTOS,
    ReferenceManifest,
    RequestManifest,
    S3Location,
    StyleIds,
    describe,
)
from headshot_inference.errors import BadRequestError

__all__ = [
    "EMBEDDING_SIZE",
    "MAX_PHOTOS",
    "InferenceRequest",
    "Reference",
    "S3Location",
    "parse_styles",
]

_STYLE_IDS: TypeAdapter[list[str]] = TypeAdapter(StyleIds)


@dataclass(frozen=True, slots=True)
class Reference:
    """What the validator measured on the accepted photos (all optional)."""

    embedding: np.ndarray | None
    skin_lab: np.ndarray | None

    @classmethod
    def from_manifest(cls, reference: ReferenceManifest | None) -> Reference:
        """The mean embedding as given (`embedding_mean`, or its older name), else the mean of `embeddings`."""
        if reference is None:
            return cls(None, None)
        given = reference.embedding_mean if reference.embedding_mean is not None else reference.embedding
        embedding = None
        if given is not None:
            embedding = np.asarray(given, dtype=np.float64)
        elif reference.embeddings:
            embedding = np.mean(np.asarray(reference.embeddings, dtype=np.float64), axis=0)
        skin_lab = np.asarray(reference.skin_lab, dtype=np.float64) if reference.skin_lab is not None else None
        return cls(embedding, skin_lab)


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
            text = body.decode()
        except UnicodeDecodeError:
            raise BadRequestError("invalid_json", "the request body is not valid JSON") from None
        try:
            manifest = RequestManifest.model_validate_json(text)
        except ValidationError as error:
            if any(e["type"] == "json_invalid" for e in error.errors()):
                raise BadRequestError("invalid_json", "the request body is not valid JSON") from None
            if any(e["type"] == "model_type" for e in error.errors()):
                raise BadRequestError("invalid_request", "the request body must be a JSON object") from None
            raise BadRequestError(*describe(error)) from None
        return cls.from_manifest(manifest)

    @classmethod
    def from_manifest(cls, manifest: RequestManifest) -> InferenceRequest:
        return cls(
            job_id=manifest.job_id,
            round=manifest.round,
            photos=tuple(manifest.photos),
            styles=tuple(manifest.styles),
            variants=manifest.variants,
            seed=manifest.seed,
            output_prefix=manifest.output_prefix,
            reference=Reference.from_manifest(manifest.reference),
        )


def parse_styles(value: object) -> tuple[str, ...]:
    """Style ids as the contract allows them (for callers outside a request, such as the CLI)."""
    try:
        return tuple(_STYLE_IDS.validate_python(value, strict=True))
    except ValidationError as error:
        code, message = describe(error)
        raise BadRequestError(code, f"styles{message.removeprefix('body')}") from None
