"""The inference contract seen from the control plane: a job's request manifest out, its
result and failure bodies back in (the documents themselves are `headshot.contract`'s)."""

from __future__ import annotations

import zlib

import numpy as np
from pydantic import ValidationError

from headshot.contract import FailureBody, ReferenceManifest, RequestManifest, ResultManifest, S3Location, S3Prefix
from headshot.jobs import Job, Photo, ResultImage
from headshot.usecases.layout import results_prefix

GENERIC_FAILURE = ("inference_failed", "generating the headshots failed; try regenerating the job")
UNREADABLE_RESULT = ("invalid_result", "the inference result could not be read; try regenerating the job")


class InvalidResult(ValueError):  # noqa: N818 - domain term
    """A result manifest that is malformed or points outside the data bucket."""


def manifest_photos(job: Job) -> list[Photo]:
    """The photos a round's request lists, in its order (the result's `source_photo` indexes them)."""
    return [p for p in job.accepted_photos if p.key]


def request_manifest(job: Job, bucket: str) -> RequestManifest:
    """The request body the container receives (from S3, via SageMaker) for the job's current round."""
    accepted = manifest_photos(job)
    embeddings = [p.embedding.tolist() for p in accepted if p.embedding is not None]
    labs = [p.skin_lab for p in accepted if p.skin_lab is not None]
    return RequestManifest(
        job_id=job.job_id,
        round=job.round,
        photos=[S3Location(bucket, p.key) for p in accepted if p.key],
        styles=list(job.styles),
        variants=job.variants,
        # Deterministic per job and round, so a retried invocation reproduces the same images.
        seed=zlib.crc32(f"{job.job_id}:{job.round}".encode()) & 0x7FFFFFFF,
        output_prefix=S3Prefix(bucket, results_prefix(job.job_id, job.round)),
        reference=ReferenceManifest(
            embeddings=embeddings,
            embedding_mean=np.mean(np.array(embeddings), axis=0).tolist() if embeddings else None,
            skin_lab=np.mean(np.array(labs), axis=0).tolist() if labs else None,
        ),
    )


def result_images(body: bytes, bucket: str, round_number: int, photo_ids: list[str]) -> list[ResultImage]:
    """Kept images of a round's result manifest; keys may be bucket keys or s3:// URIs of the data bucket.

    `photo_ids` are the ids of the round's request photos in order (`manifest_photos`).
    """
    try:
        manifest = ResultManifest.model_validate_json(body)
    except ValidationError as error:
        raise InvalidResult(str(error)) from None
    kept = []
    for image in manifest.images:
        if not image.kept:
            continue
        if not image.key:
            raise InvalidResult(f"kept image {image.image_id} has no key")
        try:
            key = S3Location.parse(image.key).key_in(bucket) if image.key.startswith("s3://") else image.key
        except ValueError as error:
            raise InvalidResult(str(error)) from None
        source = image.source_photo
        if source is not None and not 0 <= source < len(photo_ids):
            raise InvalidResult(f"kept image {image.image_id} names no photo of the request")
        kept.append(
            ResultImage(
                image.image_id,
                image.style,
                key,
                image.seed,
                dict(image.fidelity),
                round=round_number,
                variant=image.variant,
                source_photo_id=None if source is None else photo_ids[source],
            )
        )
    return kept


def failure_from_body(body: bytes | None) -> tuple[str, str]:
    """The container's own error code when its failure body says one, else a generic failure.

    SageMaker's failureReason is operator-facing: clients get a stable code and a plain message.
    """
    if body:
        try:
            error = FailureBody.model_validate_json(body).error
        except ValidationError:
            return GENERIC_FAILURE
        return error.code, error.message
    return GENERIC_FAILURE
