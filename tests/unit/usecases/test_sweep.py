"""SweepJobs: jobs that can no longer finish are expired with their webhook; nothing else moves."""

from __future__ import annotations

from datetime import timedelta

from headshot.jobs import Job, JobStatus
from tests.fakes import World
from tests.unit.usecases.conftest import create


def aged(world: World, status: JobStatus, age: timedelta) -> Job:
    job = create(world, owner=f"user-{status.value}-{age.total_seconds()}", webhook_url="https://hooks.example.com/h")
    if status is not JobStatus.AWAITING_UPLOAD:
        job.transition(JobStatus.VALIDATING, world.clock())
    if status is JobStatus.QUEUED:
        job.start_round(world.clock())
        job.inference_invoked = True  # waiting for its result (an uninvoked round is invoked again)
    job.updated_at = world.clock() - age
    return world.store.put(job)


def test_stale_jobs_of_every_active_status_expire_once(world: World) -> None:
    # Given stale jobs in each active status, and fresh ones
    stale = {s: aged(world, s, timedelta(hours=2)).job_id
             for s in (JobStatus.AWAITING_UPLOAD, JobStatus.VALIDATING, JobStatus.QUEUED)}  # fmt: skip
    fresh = [aged(world, s, timedelta(minutes=1)).job_id for s in stale]
    # When the sweeper runs
    expired = world.plane.sweep()
    # Then each stale job is expired with its reason and a webhook; fresh ones are untouched
    assert sorted(expired) == sorted([
        (stale[JobStatus.AWAITING_UPLOAD], "uploads_not_received"),
        (stale[JobStatus.VALIDATING], "uploads_incomplete"),
        (stale[JobStatus.QUEUED], "inference_timeout"),
    ])  # fmt: skip
    assert all(world.store.jobs[j].status is JobStatus.EXPIRED for j in stale.values())
    assert all(world.store.jobs[j].status is not JobStatus.EXPIRED for j in fresh)
    assert world.webhooks.types == ["job.expired"] * 3
    # And a second run finds nothing more to do
    assert world.plane.sweep() == []


def test_a_queued_job_within_its_inference_deadline_is_left_alone(world: World) -> None:
    deadline = world.settings.inference_request_ttl_s + world.settings.inference_invocation_timeout_s
    job = aged(world, JobStatus.QUEUED, timedelta(seconds=deadline))
    assert world.plane.sweep() == [] and world.store.jobs[job.job_id].status is JobStatus.QUEUED


def test_a_late_event_wins_over_the_sweeper(world: World) -> None:
    # Given a stale validating job that another function moves on while the sweeper looks at it
    job = aged(world, JobStatus.VALIDATING, timedelta(hours=2))

    def result_arrives(store: object) -> None:
        current = world.store.get(job.job_id)
        assert current is not None
        current.start_round(world.clock())
        world.store.save(current)

    world.store.interfere = result_arrives
    # When the sweeper runs / Then the job stays with the event's outcome, and no webhook is sent
    assert world.plane.sweep() == []
    assert world.store.jobs[job.job_id].status is JobStatus.QUEUED and world.webhooks.sent == []


def test_photos_that_arrived_but_were_never_checked_are_not_blamed_on_the_user(world: World) -> None:
    # Given a job waiting for uploads and a half-settled one, whose pending photos were uploaded
    # (the validator was down for longer than the upload window)
    waiting = aged(world, JobStatus.AWAITING_UPLOAD, timedelta(hours=2))
    partial = create(world, owner="user-bob", photo_count=2, webhook_url="https://hooks.example.com/h")
    partial.transition(JobStatus.VALIDATING, world.clock())
    partial.photos[0].settle([], [])
    partial.updated_at = world.clock() - timedelta(hours=2)
    world.store.put(partial)
    for job in (waiting, partial):
        world.storage.put(f"uploads/{job.job_id}/{job.photos[-1].photo_id}", b"person:0:shot:0")
    # When the sweeper runs / Then both expire as our failure to check them, not as missing uploads
    assert sorted(world.plane.sweep()) == sorted(
        [(waiting.job_id, "validation_timeout"), (partial.job_id, "validation_timeout")]
    )
    error = world.store.jobs[waiting.job_id].error
    assert error is not None and "could not be checked" in error.message
