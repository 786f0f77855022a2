"""CreateJob: a job with one presigned upload per photo, within the owner's quota and the rules."""

from __future__ import annotations

import pytest

from headshot.jobs import JobError, JobStatus
from headshot.usecases.create_job import NewJob
from tests.fakes import World


def test_a_job_gets_one_upload_per_photo_on_a_server_chosen_key(world: World) -> None:
    # Given / When a two-photo job is created
    created = world.plane.create_job("user-alice", NewJob(photo_count=2, styles=("studio_blue",), variants=2))
    # Then it awaits two uploads, each on uploads/{job}/{photo}, valid for the upload window
    job = world.store.get(created["job_id"])
    assert job is not None and job.status is JobStatus.AWAITING_UPLOAD
    assert [u["fields"]["key"] for u in created["uploads"]] == [
        f"uploads/{job.job_id}/{p.photo_id}" for p in job.photos
    ]
    assert created["uploads"][0]["fields"]["x-max-bytes"] == str(world.photo_limits.max_bytes)
    assert created["expires_at"] == "2026-11-21T05:15:00.000Z"
    assert (job.styles, job.variants, job.owner_sub) == (["studio_blue"], 2, "user-alice")


def test_the_active_job_quota_is_per_owner(world: World) -> None:
    # Given Alice has as many active jobs as allowed (2)
    for _ in range(2):
        world.plane.create_job("user-alice", NewJob())
    # When she asks for another / Then it is refused, and nothing was stored; Bob is not affected
    with pytest.raises(JobError) as refused:
        world.plane.create_job("user-alice", NewJob())
    assert refused.value.code == "too_many_active_jobs" and len(world.store.jobs) == 2
    world.plane.create_job("user-bob", NewJob())
    assert len(world.store.jobs) == 3


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (NewJob(styles=("neon_party",)), "unknown_style"),
        (NewJob(webhook_url="http://hooks.example.com/h"), "invalid_webhook_url"),
        (NewJob(webhook_url="https://evil.example.net/h"), "invalid_webhook_url"),
        (NewJob(webhook_url="https://169.254.169.254/latest"), "invalid_webhook_url"),
    ],
)
def test_rules_are_checked_before_anything_is_stored(world: World, request_: NewJob, code: str) -> None:
    with pytest.raises(JobError) as refused:
        world.plane.create_job("user-alice", request_)
    assert refused.value.code == code and refused.value.message
    assert world.store.jobs == {}
