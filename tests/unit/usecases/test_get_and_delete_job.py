"""GetJob and DeleteJob: owner-only; DELETE erases every object and the personal data, repeatably."""

from __future__ import annotations

import pytest

from headshot.jobs import JobError, JobStatus, ResultImage
from tests.fakes import BUCKET, World
from tests.unit.usecases.conftest import create


def test_another_users_job_answers_like_a_missing_one(world: World) -> None:
    job = create(world)
    assert world.plane.get_job("user-alice", job.job_id)["job_id"] == job.job_id
    for owner, job_id in (("user-mallory", job.job_id), ("user-alice", "job_missing"), ("user-alice", "../x")):
        with pytest.raises(JobError) as missing:
            world.plane.get_job(owner, job_id)
        assert (missing.value.code, missing.value.message) == ("not_found", "no such job")


def test_results_are_shown_with_short_lived_urls(world: World) -> None:
    # Given a completed job with one result
    job = create(world)
    job.results = [ResultImage("img_1", "studio_gray", f"results/{job.job_id}/r1/img_1.png", 3, {"ok": True})]
    world.store.put(job)
    # When its owner reads it / Then the result has a URL that expires in an hour
    (result,) = world.plane.get_job("user-alice", job.job_id)["results"]
    assert result["url"].endswith(f"results/{job.job_id}/r1/img_1.png?signed")
    assert result["expires_at"] == "2026-11-21T06:00:00.000Z"


def test_delete_erases_objects_and_personal_data(world: World) -> None:
    # Given a job with objects under its prefixes, SageMaker's own objects, and another job's
    job = create(world, webhook_url="https://hooks.example.com/h", client_reference="me")
    photo = job.photos[0].photo_id
    for key in (f"uploads/{job.job_id}/{photo}", f"photos/{job.job_id}/{photo}.jpg", f"results/{job.job_id}/r1/a.png",
                "async-output/r1.out", "async-failure/r1-error.out", "photos/job_other/p.jpg"):  # fmt: skip
        world.storage.put(key, b"x")
    job.inference_objects = [f"s3://{BUCKET}/async-output/r1.out", f"s3://{BUCKET}/async-failure/r1-error.out"]
    world.store.put(job)
    # When the owner deletes it twice
    world.plane.delete_job("user-alice", job.job_id)
    world.plane.delete_job("user-alice", job.job_id)
    # Then only the other job's object is left, and the record keeps nothing personal
    assert world.storage.listing() == ["photos/job_other/p.jpg"]
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.DELETED
    assert stored.webhook_url is None and stored.client_reference is None and stored.inference_objects == []
    assert world.plane.get_job("user-alice", job.job_id)["status"] == "deleted"


def test_delete_of_another_users_job_changes_nothing(world: World) -> None:
    job = create(world)
    world.storage.put(f"uploads/{job.job_id}/{job.photos[0].photo_id}", b"x")
    with pytest.raises(JobError):
        world.plane.delete_job("user-mallory", job.job_id)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.AWAITING_UPLOAD and len(world.storage.objects) == 1
