"""Use cases on in-memory ports (tests/fakes.py): no AWS, no models, milliseconds a test."""

from __future__ import annotations

import pytest

from headshot.jobs import Job, JobStatus
from headshot.usecases.create_job import NewJob
from tests.fakes import World


@pytest.fixture
def world() -> World:
    return World()


def create(world: World, owner: str = "user-alice", **request: object) -> Job:
    """A job as POST /v1/jobs leaves it (awaiting uploads), read back from the store."""
    created = world.plane.create_job(owner, NewJob(**request))  # type: ignore[arg-type]
    job = world.store.get(created["job_id"])
    assert job is not None
    return job


def queued(world: World, webhook_url: str | None = "https://hooks.example.com/h", photos: int = 1) -> Job:
    """A job whose photos were all accepted and whose first round was invoked."""
    job = create(world, webhook_url=webhook_url, photo_count=photos)
    for shot, photo in enumerate(job.photos):
        world.storage.put(f"uploads/{job.job_id}/{photo.photo_id}", f"person:0:shot:{shot}".encode())
        world.plane.record_upload(job.job_id, photo.photo_id)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.inference_invoked
    world.webhooks.sent.clear()
    return stored
