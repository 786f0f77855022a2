"""Retention covers every object of a job from its last write: the record's TTL moves with each
round, and results that arrive when the job can no longer show them are erased at once."""

from __future__ import annotations

from datetime import timedelta

from headshot.jobs import JobStatus
from headshot.usecases.inference_results import ResultOutcome
from headshot.usecases.ports import InferenceNotification
from headshot.usecases.regenerate_job import Regeneration
from tests.fakes import BUCKET, World
from tests.unit.usecases.conftest import create, queued

RETENTION = timedelta(days=7)


def late_result(world: World, job_id: str, round_number: int) -> InferenceNotification:
    """SageMaker's output for a round, with the images the container wrote under results/."""
    for name in ("a.png", "b.png"):
        world.storage.put(f"results/{job_id}/r{round_number}/{name}", b"png")
    world.storage.put(f"async-output/{job_id}-r{round_number}.out", b'{"images": []}')
    output = f"s3://{BUCKET}/async-output/{job_id}-r{round_number}.out"
    return InferenceNotification(f"{job_id}-r{round_number}", True, output, None, None)


def test_a_new_round_extends_the_records_retention(world: World) -> None:
    # Given a job completed on day 0
    job = queued(world)
    created = world.clock()
    assert job.expires_at == created + RETENTION
    job.transition(JobStatus.COMPLETED, world.clock())
    world.store.put(job)
    # When it is regenerated on day 6 / Then its record lives 7 days from then
    world.clock.advance(timedelta(days=6))
    world.plane.regenerate("user-alice", job.job_id, Regeneration())
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.expires_at == world.clock() + RETENTION
    # And a result written on day 6, one hour later, moves it again
    world.clock.advance(timedelta(hours=1))
    world.storage.put(f"async-output/{job.job_id}-r2.out", b'{"images": []}')
    world.plane.record_result(InferenceNotification(
        f"{job.job_id}-r2", True, f"s3://{BUCKET}/async-output/{job.job_id}-r2.out", None, None))  # fmt: skip
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.expires_at == world.clock() + RETENTION


def test_a_late_result_for_an_expired_job_is_erased(world: World) -> None:
    # Given a job that expired waiting for round 1, and another job's result
    job = queued(world)
    job.fail(JobStatus.EXPIRED, "inference_timeout", "late", world.clock())
    world.store.put(job)
    world.storage.put("results/job_other/r1/a.png", b"png")
    # When round 1's result arrives after all
    outcome, _ = world.plane.record_result(late_result(world, job.job_id, 1))
    # Then it changes nothing on the job, and nothing it wrote is kept
    assert outcome is ResultOutcome.IGNORED
    assert world.storage.listing("results/*") == ["results/job_other/r1/a.png"]
    assert world.storage.listing("async-output/*") == []


def test_a_late_result_for_a_record_already_gone_is_erased(world: World) -> None:
    # Given a job whose record TTL already removed
    job = create(world)
    del world.store.jobs[job.job_id]
    # When a result of its round arrives / Then it is erased
    world.plane.record_result(late_result(world, job.job_id, 1))
    assert world.storage.listing(f"*{job.job_id}*") == []
