"""The active-job quota holds for regenerations and concurrent creates; rounds per job are capped."""

from __future__ import annotations

from typing import Any

import pytest

from headshot.jobs import JobError, JobStatus
from headshot.usecases.create_job import NewJob
from headshot.usecases.regenerate_job import Regeneration
from tests.fakes import World, settings
from tests.unit.usecases.conftest import create, queued


def completed(world: World, owner: str = "user-alice") -> str:
    job = queued(world)
    job.transition(JobStatus.COMPLETED, world.clock())
    world.store.put(job)
    return job.job_id


def test_a_regeneration_counts_against_the_active_job_quota(world: World) -> None:
    # Given Alice has a completed job and as many active jobs as allowed (2)
    done = completed(world)
    create(world)
    create(world)
    # When she regenerates the completed one / Then it is refused like a third new job
    with pytest.raises(JobError) as refused:
        world.plane.regenerate("user-alice", done, Regeneration())
    assert refused.value.code == "too_many_active_jobs"
    stored = world.store.get(done)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.round == 1


def test_concurrent_creates_cannot_exceed_the_quota(world: World) -> None:
    # Given Alice has one active job of two allowed, and a second create lands while ours is in flight
    create(world)

    def another_create(store: Any) -> None:
        world.plane.create_job("user-alice", NewJob())

    world.store.interfere = another_create
    # When ours completes / Then one of the two is refused: never three active jobs
    with pytest.raises(JobError) as refused:
        world.plane.create_job("user-alice", NewJob())
    assert refused.value.code == "too_many_active_jobs"
    assert sum(1 for job in world.store.jobs.values() if job.active) == 2


def test_finished_jobs_free_their_place(world: World) -> None:
    # Given Alice's two jobs, one of which finished
    first = create(world)
    create(world)
    first.transition(JobStatus.EXPIRED, world.clock())
    world.store.put(first)
    # When she creates another / Then it is accepted
    assert world.plane.create_job("user-alice", NewJob())["status"] == "awaiting_upload"


def test_rounds_per_job_are_capped() -> None:
    # Given a limit of two rounds per job and a job that completed its first
    world = World(settings=settings(MAX_ROUNDS_PER_JOB="2"))
    done = completed(world)
    # When it is regenerated once it runs round 2; a third round is refused
    assert world.plane.regenerate("user-alice", done, Regeneration())["round"] == 2
    job = world.store.get(done)
    assert job is not None
    job.transition(JobStatus.COMPLETED, world.clock())
    world.store.put(job)
    with pytest.raises(JobError) as refused:
        world.plane.regenerate("user-alice", done, Regeneration())
    assert refused.value.code == "round_limit_reached"
    assert world.settings.max_rounds_per_job == 2 and settings().max_rounds_per_job == 5
