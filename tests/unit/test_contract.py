"""The inference contract end to end: what the control plane writes, the container reads, and back.

Producer and consumer share `headshot.contract`; these tests run the real producer
(`headshot.usecases.manifests`) into the real consumer (`headshot_inference.request`), and the
container's result and failure bodies into the control plane's readers.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from headshot import contract
from headshot.jobs import Job, JobStatus, PhotoStatus, utcnow
from headshot.usecases.manifests import InvalidResult, failure_from_body, request_manifest, result_images
from headshot_inference import styles as container_styles
from headshot_inference.errors import BadRequestError, UnprocessableError
from headshot_inference.render import RenderedImage, RenderResult
from headshot_inference.request import InferenceRequest

BUCKET = "headshot-data-test"


def queued_job(accepted: int = 2) -> Job:
    now = utcnow()
    job = Job.create(owner_sub="user-1", photo_count=accepted + 1, styles=["studio_blue", "office_blur"], variants=3,
                     now=now, retention=timedelta(days=7), upload_window=timedelta(minutes=15))  # fmt: skip
    for index, photo in enumerate(job.photos[:accepted]):
        photo.status = PhotoStatus.ACCEPTED
        photo.key = f"photos/{job.job_id}/{photo.photo_id}.jpg"
        photo.embedding = np.full(128, 0.1 * (index + 1), np.float32)
        photo.skin_lab = (60.0 + index, 12.0, 16.0)
    job.photos[-1].status = PhotoStatus.REJECTED
    job.transition(JobStatus.VALIDATING, now)
    job.start_round(now)
    return job


def test_the_container_reads_what_the_control_plane_writes() -> None:
    # Given a queued job with two accepted photos and one rejected
    job = queued_job()
    # When its request manifest is encoded as the validator writes it, and parsed as the container does
    request = InferenceRequest.parse(request_manifest(job, BUCKET).encode())
    # Then the container sees the job's round, its accepted photos only, its styles and the reference
    assert (request.job_id, request.round, request.styles, request.variants) == (
        job.job_id, 1, ("studio_blue", "office_blur"), 3)  # fmt: skip
    assert [p.uri for p in request.photos] == [f"s3://{BUCKET}/{p.key}" for p in job.photos[:2]]
    assert request.output_prefix.uri == f"s3://{BUCKET}/results/{job.job_id}/r1/"
    assert 0 <= request.seed <= contract.MAX_SEED
    assert request.reference.embedding is not None and np.allclose(request.reference.embedding, 0.15)
    assert request.reference.skin_lab is not None and np.allclose(request.reference.skin_lab, [60.5, 12.0, 16.0])


def test_the_same_job_and_round_always_get_the_same_seed() -> None:
    job = queued_job()
    assert request_manifest(job, BUCKET).seed == request_manifest(job, BUCKET).seed
    job.transition(JobStatus.COMPLETED, job.updated_at)
    first = request_manifest(job, BUCKET).seed
    job.start_round(job.updated_at)
    assert request_manifest(job, BUCKET).seed != first


def test_a_job_without_evidence_sends_an_empty_reference() -> None:
    job = queued_job()
    for photo in job.photos:
        photo.embedding, photo.skin_lab = None, None
    request = InferenceRequest.parse(request_manifest(job, BUCKET).encode())
    assert request.reference.embedding is None and request.reference.skin_lab is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"variants": contract.MAX_VARIANTS + 1}, "invalid_request"),
        ({"variants": True}, "invalid_request"),
        ({"variants": "4"}, "invalid_request"),
        ({"styles": ["neon_party"]}, "unknown_style"),
        ({"styles": ["studio_gray", "studio_gray"]}, "invalid_request"),
        ({"photos": [f"s3://{BUCKET}/a.jpg"] * 2}, "invalid_request"),
        ({"photos": [f"s3://{BUCKET}/p{i}.jpg" for i in range(contract.MAX_PHOTOS + 1)]}, "invalid_request"),
        ({"photos": ["https://example.com/a.jpg"]}, "invalid_request"),
        ({"output_prefix": "results/"}, "invalid_request"),
        ({"reference": {"skin_lab": [1.0, 2.0]}}, "invalid_request"),
        ({"reference": {"embedding_mean": [1.0] * 127}}, "invalid_request"),
        ({"job_id": "../etc"}, "invalid_request"),
    ],
)
def test_the_container_refuses_what_the_contract_forbids(change: dict[str, object], code: str) -> None:
    document = json.loads(request_manifest(queued_job(), BUCKET).encode()) | change
    with pytest.raises(BadRequestError) as refused:
        InferenceRequest.parse(json.dumps(document).encode())
    assert refused.value.code == code and refused.value.message


def test_unknown_fields_are_ignored_for_a_newer_sender() -> None:
    document = json.loads(request_manifest(queued_job(), BUCKET).encode()) | {"priority": "high"}
    assert InferenceRequest.parse(json.dumps(document).encode()).variants == 3


def rendered(image_id: str, kept: bool) -> RenderedImage:
    return RenderedImage(image_id, "studio_blue", 0, 7, 0, b"", "image/jpeg", "jpg", {"identity_match": kept}, kept,
                         None if kept else "identity_mismatch", 1 if kept else None)  # fmt: skip


def test_the_control_plane_reads_what_the_container_writes() -> None:
    # Given the container's result manifest: one kept image stored under the prefix, one rejected and not stored
    result = RenderResult("studio", [rendered("r1-a", True), rendered("r1-b", False)], [{"used": True}])
    keys: dict[str, str | None] = {"r1-a": f"s3://{BUCKET}/results/job_1/r1/r1-a.jpg", "r1-b": None}
    body = json.dumps(result.manifest(keys, job_id="job_1", round=1)).encode()
    # When the result function reads it / Then only the kept image is a result, by its bucket key
    (image,) = result_images(body, BUCKET, 1, ["photo_a"])
    assert (image.image_id, image.key, image.style, image.seed) == (
        "r1-a",
        "results/job_1/r1/r1-a.jpg",
        "studio_blue",
        7,
    )
    # And it carries its round, variant and the request photo it came from, by that photo's id
    assert (image.round, image.variant, image.source_photo_id) == (1, 0, "photo_a")
    with pytest.raises(InvalidResult):
        result_images(body, "another-bucket", 1, ["photo_a"])
    with pytest.raises(InvalidResult):  # a source index the request did not have
        result_images(body, BUCKET, 1, [])


def test_the_containers_error_body_becomes_the_jobs_error() -> None:
    error = UnprocessableError("insufficient_fidelity", "no output looked enough like the person")
    assert failure_from_body(json.dumps(error.body()).encode()) == (error.code, error.message)
    assert failure_from_body(b"<html>502</html>")[0] == "inference_failed"
    assert failure_from_body(None)[0] == "inference_failed"


def test_one_style_catalogue_for_both_sides() -> None:
    assert container_styles.STYLES == contract.STYLES == tuple(contract.STYLE_CATALOGUE)
    assert container_styles.MAX_VARIANTS == contract.MAX_VARIANTS
    assert contract.DEFAULT_STYLE in contract.STYLE_CATALOGUE


def test_s3_uris_parse_in_one_place() -> None:
    location = contract.S3Location.parse(f"s3://{BUCKET}/a/b.jpg")
    assert (location.bucket, location.key, location.uri) == (BUCKET, "a/b.jpg", f"s3://{BUCKET}/a/b.jpg")
    assert location.key_in(BUCKET) == "a/b.jpg"
    assert contract.S3Prefix.parse(f"s3://{BUCKET}/results/x").key == "results/x/"
    assert contract.S3Prefix.parse(f"s3://{BUCKET}/").key == ""
    for bad in (f"s3://{BUCKET}/", "s3://B/k", "https://x/y", f"s3://{BUCKET}"):
        with pytest.raises(ValueError):
            contract.S3Location.parse(bad)
    with pytest.raises(ValueError):
        location.key_in("another-bucket")
