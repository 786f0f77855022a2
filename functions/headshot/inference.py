"""The inference contract (DESIGN.md §6): request manifests and SageMaker asynchronous invocation."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from headshot.jobs import Job


class InferenceUnavailable(Exception):  # noqa: N818 - domain term
    """The endpoint could not take the request now; the caller retries (the event is redelivered)."""


@dataclass(frozen=True, slots=True)
class Invocation:
    inference_id: str
    output_location: str
    failure_location: str | None


class InferenceClient(Protocol):
    def invoke(self, input_location: str, inference_id: str) -> Invocation: ...


def request_manifest(job: Job, bucket: str, photo_uris: list[str], output_prefix: str) -> dict[str, Any]:
    """The request body the container receives (from S3, via SageMaker)."""
    accepted = job.accepted_photos
    embeddings = [p.embedding.tolist() for p in accepted if p.embedding is not None]
    labs = [p.skin_lab for p in accepted if p.skin_lab is not None]
    return {
        "job_id": job.job_id,
        "round": job.round,
        "photos": photo_uris,
        "styles": list(job.styles),
        "variants": job.variants,
        # Deterministic per job and round, so a retried invocation reproduces the same images.
        "seed": zlib.crc32(f"{job.job_id}:{job.round}".encode()) & 0x7FFFFFFF,
        "output_prefix": f"s3://{bucket}/{output_prefix}",
        "reference": {
            "embeddings": embeddings,
            "embedding_mean": np.mean(np.array(embeddings), axis=0).tolist() if embeddings else None,
            "skin_lab": np.mean(np.array(labs), axis=0).tolist() if labs else None,
        },
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, separators=(",", ":")).encode()


class SageMakerAsyncClient:
    """InvokeEndpointAsync on the stack's endpoint; boto3 finds the endpoint URL itself."""

    def __init__(self, endpoint_name: str, request_ttl_s: int, invocation_timeout_s: int, client: Any = None) -> None:
        self._endpoint = endpoint_name
        self._ttl = request_ttl_s
        self._timeout = invocation_timeout_s
        self._runtime = client or boto3.client("sagemaker-runtime")

    def invoke(self, input_location: str, inference_id: str) -> Invocation:
        try:
            response = self._runtime.invoke_endpoint_async(
                EndpointName=self._endpoint,
                InputLocation=input_location,
                InferenceId=inference_id,
                ContentType="application/json",
                RequestTTLSeconds=self._ttl,
                InvocationTimeoutSeconds=self._timeout,
            )
        except (BotoCoreError, ClientError) as error:
            raise InferenceUnavailable(type(error).__name__) from error
        return Invocation(
            inference_id=str(response.get("InferenceId", inference_id)),
            output_location=str(response["OutputLocation"]),
            failure_location=response.get("FailureLocation"),
        )
