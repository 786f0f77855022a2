"""The sweeper: jobs that can no longer finish are expired, with their webhook; nothing else moves."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from headshot.jobs import JobStatus
from headshot.usecases.create_job import NewJob
from headshot.wiring import ControlPlane
from tests.fakes import FakeLambdaContext


def make_job(world: dict[str, Any], status: JobStatus, age: timedelta) -> str:
    plane: ControlPlane = world["plane_for"]("ApiFunction")
    job_id: str = plane.create_job("user-" + status.value, NewJob(webhook_url="https://hooks.example.com/h"))["job_id"]
    job = world["store"].get(job_id)
    now = plane.clock()
    if status is not JobStatus.AWAITING_UPLOAD:
        job.transition(JobStatus.VALIDATING, now)
    if status is JobStatus.QUEUED:
        job.start_round(now)
        job.inference_invoked = True  # waiting for its result (an uninvoked round is invoked again)
    job.updated_at = now - age
    world["store"].save(job)
    return job_id


def test_stale_jobs_of_every_active_status_expire(
    control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given stale jobs in each active status, and fresh ones
    stale = {
        JobStatus.AWAITING_UPLOAD: make_job(control_world, JobStatus.AWAITING_UPLOAD, timedelta(hours=1)),
        JobStatus.VALIDATING: make_job(control_world, JobStatus.VALIDATING, timedelta(hours=1)),
        JobStatus.QUEUED: make_job(control_world, JobStatus.QUEUED, timedelta(hours=2)),
    }
    fresh = [make_job(control_world, s, timedelta(minutes=1)) for s in stale]
    # When the sweeper runs
    app = control_world["load"]("SweeperFunction", "sweeper.app")
    assert app.lambda_handler({"source": "aws.events"}, lambda_context) == {"expired": 3}
    # Then each stale job is expired with its reason and a job.expired webhook; fresh ones are untouched
    codes = {status: control_world["store"].get(job_id).error.code for status, job_id in stale.items()}
    assert codes == {
        JobStatus.AWAITING_UPLOAD: "uploads_not_received",
        JobStatus.VALIDATING: "uploads_incomplete",
        JobStatus.QUEUED: "inference_timeout",
    }
    assert all(control_world["store"].get(j).status is JobStatus.EXPIRED for j in stale.values())
    assert all(control_world["store"].get(j).status is not JobStatus.EXPIRED for j in fresh)
    got = control_world["sqs"].receive_message(QueueUrl=control_world["queue_url"], MaxNumberOfMessages=10)
    assert sorted(json.loads(m["Body"])["type"] for m in got["Messages"]) == ["job.expired"] * 3
    # And a second run finds nothing more to do
    assert app.lambda_handler({}, lambda_context) == {"expired": 0}


def test_queued_job_within_its_inference_deadline_is_left_alone(control_world: dict[str, Any]) -> None:
    plane: ControlPlane = control_world["plane_for"]("SweeperFunction")
    deadline = plane.settings.inference_request_ttl_s + plane.settings.inference_invocation_timeout_s
    job_id = make_job(control_world, JobStatus.QUEUED, timedelta(seconds=deadline))
    assert plane.sweep() == []
    assert control_world["store"].get(job_id).status is JobStatus.QUEUED


def test_photos_that_arrived_unchecked_expire_as_our_timeout(control_world: dict[str, Any]) -> None:
    # Given a stale job waiting for uploads whose photo is in the bucket (the validator was down)
    job_id = make_job(control_world, JobStatus.AWAITING_UPLOAD, timedelta(hours=1))
    photo_id = control_world["store"].get(job_id).photos[0].photo_id
    control_world["s3"].put_object(Bucket="headshot-data-test", Key=f"uploads/{job_id}/{photo_id}", Body=b"jpeg")
    # When the sweeper runs / Then it says the photos could not be checked, not that none came
    plane: ControlPlane = control_world["plane_for"]("SweeperFunction")
    assert plane.sweep() == [(job_id, "validation_timeout")]
