"""RecordUpload: each photo is checked once, kept only if accepted; the last one settles the job."""

from __future__ import annotations

import json

from headshot.jobs import JobStatus, PhotoStatus
from headshot.usecases.photo_intake import UploadOutcome
from tests.fakes import BUCKET, World
from tests.unit.usecases.conftest import create


def upload(world: World, job_id: str, photo_id: str, body: bytes) -> str:
    key = f"uploads/{job_id}/{photo_id}"
    world.storage.put(key, body)
    return key


def test_a_good_photo_queues_exactly_one_inference(world: World) -> None:
    # Given a one-photo job whose photo was uploaded
    job = create(world, webhook_url="https://hooks.example.com/h")
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"person:0:shot:0")
    # When the upload event arrives twice (at-least-once delivery)
    first = world.plane.record_upload(job.job_id, photo)
    second = world.plane.record_upload(job.job_id, photo)
    # Then the photo is accepted with its evidence, only the normalised copy and the request remain,
    # and round 1 is invoked once
    assert (first.outcome, first.accepted, first.job_status) == (UploadOutcome.RECORDED, True, JobStatus.QUEUED)
    assert second.outcome is UploadOutcome.IGNORED and world.checker.checked == [photo]
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.inference_invoked
    assert stored.photos[0].embedding is not None and stored.photos[0].skin_lab == (60.0, 12.0, 16.0)
    assert world.storage.listing() == [f"photos/{job.job_id}/{photo}.jpg", f"requests/{job.job_id}/r1.json"]
    assert world.storage.objects[f"photos/{job.job_id}/{photo}.jpg"].content_type == "image/jpeg"
    assert world.inference.calls == [(f"s3://{BUCKET}/requests/{job.job_id}/r1.json", f"{job.job_id}-r1")]
    assert stored.inference_objects == [f"s3://{BUCKET}/async-output/{job.job_id}-r1.out",
                                        f"s3://{BUCKET}/async-failure/{job.job_id}-r1-error.out"]  # fmt: skip
    manifest = json.loads(world.storage.get_bytes(f"requests/{job.job_id}/r1.json"))
    assert manifest["photos"] == [f"s3://{BUCKET}/photos/{job.job_id}/{photo}.jpg"]
    assert world.webhooks.sent == []  # queued is no webhook event


def test_all_photos_rejected_rejects_the_job_with_its_webhook(world: World) -> None:
    job = create(world, photo_count=2, webhook_url="https://hooks.example.com/h")
    for photo, body in zip(job.photos, (b"reject:unsupported_format", b"not a face"), strict=True):
        upload(world, job.job_id, photo.photo_id, body)
        world.plane.record_upload(job.job_id, photo.photo_id)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.REJECTED
    assert [[r.code.value for r in p.reasons] for p in stored.photos] == [["unsupported_format"], ["no_face"]]
    assert stored.error is not None and stored.error.code == "photos_rejected"
    assert world.storage.listing() == [] and world.inference.calls == []
    assert world.webhooks.types == ["job.rejected"]


def test_an_oversize_upload_is_rejected_before_it_is_read(world: World) -> None:
    job = create(world)
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"\xff" * (world.photo_limits.max_bytes + 1))
    result = world.plane.record_upload(job.job_id, photo)
    assert result.reason_codes == ("file_too_large",) and world.checker.checked == []
    assert result.job_status is JobStatus.REJECTED and world.storage.listing() == []


def test_a_duplicate_in_the_set_is_rejected_and_the_rest_proceeds(world: World) -> None:
    # Given two uploads of the same shot
    job = create(world, photo_count=2)
    first, second = (p.photo_id for p in job.photos)
    upload(world, job.job_id, first, b"person:0:shot:0")
    upload(world, job.job_id, second, b"person:0:shot:0")
    # When the first arrives the job waits for the second; when the second arrives the set is settled
    assert world.plane.record_upload(job.job_id, first).job_status is JobStatus.VALIDATING
    assert world.plane.record_upload(job.job_id, second).job_status is JobStatus.QUEUED
    # Then the duplicate is rejected, its kept copy removed, and only the first feeds inference
    stored = world.store.get(job.job_id)
    assert stored is not None
    assert [p.status for p in stored.photos] == [PhotoStatus.ACCEPTED, PhotoStatus.REJECTED]
    assert stored.photos[1].reasons[0].code.value == "duplicate_photo"
    assert f"photos/{job.job_id}/{second}.jpg" not in world.storage.listing()
    assert len(world.inference.calls) == 1


def test_another_person_is_rejected(world: World) -> None:
    job = create(world, photo_count=3)
    for shot, (photo, person) in enumerate(zip(job.photos, (0, 0, 1), strict=True)):
        upload(world, job.job_id, photo.photo_id, f"person:{person}:shot:{shot}".encode())
        world.plane.record_upload(job.job_id, photo.photo_id)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.QUEUED
    assert [r.code.value for r in stored.photos[2].reasons] == ["different_person"]


def test_late_and_unknown_uploads_change_nothing_and_do_not_linger(world: World) -> None:
    # Given a job already queued
    job = create(world)
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"person:0:shot:0")
    world.plane.record_upload(job.job_id, photo)
    before = world.store.get(job.job_id)
    # When a re-upload to the same key and an upload for an unknown job arrive
    late = upload(world, job.job_id, photo, b"reject:unsupported_format")
    unknown = upload(world, "job_nope", "ph_nope", b"x")
    assert world.plane.record_upload(job.job_id, photo).outcome is UploadOutcome.IGNORED
    assert world.plane.record_upload("job_nope", "ph_nope").outcome is UploadOutcome.IGNORED
    # Then the job is as it was, and neither original is kept
    after = world.store.get(job.job_id)
    assert before is not None and after is not None and (after.version, after.status) == (before.version, before.status)
    assert late not in world.storage.listing() and unknown not in world.storage.listing()
    assert len(world.inference.calls) == 1


def test_a_concurrent_settlement_is_retried_on_the_new_version(world: World) -> None:
    # Given a two-photo job where another validator settles the other photo during our write
    job = create(world, photo_count=2)
    first, second = (p.photo_id for p in job.photos)
    upload(world, job.job_id, first, b"person:0:shot:0")
    upload(world, job.job_id, second, b"person:0:shot:1")

    def other_validator(store: object) -> None:
        world.plane.record_upload(job.job_id, second)

    world.store.interfere = other_validator
    # When ours is recorded
    result = world.plane.record_upload(job.job_id, first)
    # Then both verdicts are on the job and the set was settled once
    assert result.job_status is JobStatus.QUEUED
    stored = world.store.get(job.job_id)
    assert stored is not None and [p.status for p in stored.photos] == [PhotoStatus.ACCEPTED] * 2
    assert len(world.inference.calls) == 1
