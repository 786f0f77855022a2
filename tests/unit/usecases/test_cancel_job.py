"""CancelJob (POST /v1/jobs/{id}/cancel): a job not yet finished stops for good, truthfully."""

from __future__ import annotations

import json

import pytest

from headshot.jobs import JobError, JobStatus
from headshot.usecases.deliver_webhook import DeliveryState
from headshot.usecases.inference_results import ResultOutcome
from headshot.usecases.ports import InferenceNotification, WebhookRequest
from headshot.usecases.regenerate_job import Regeneration
from tests.fakes import BUCKET, World
from tests.unit.usecases.conftest import create, queued
from tests.unit.usecases.test_notifications import SECRET


def test_a_job_awaiting_upload_is_cancelled_with_a_truthful_reason(world: World) -> None:
    # Given a job still waiting for its photos
    job = create(world, webhook_url="https://hooks.example.com/h")
    # When its owner cancels it
    body = world.plane.cancel_job("user-alice", job.job_id)
    # Then it is cancelled, says why, and a job.cancelled event is queued
    assert body["status"] == "cancelled"
    assert body["error"] == {"code": "cancelled_by_user", "message": "the job was cancelled by its owner"}
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and not stored.active
    assert world.webhooks.types == ["job.cancelled"]


def test_a_cancelled_job_frees_its_place_under_the_active_job_cap(world: World) -> None:
    # Given a caller at the cap of 2
    first, _ = create(world), create(world)
    with pytest.raises(JobError):
        create(world)
    # When one is cancelled / Then a new one may be created
    world.plane.cancel_job("user-alice", first.job_id)
    assert create(world).status is JobStatus.AWAITING_UPLOAD


def test_a_late_result_of_a_cancelled_round_is_discarded_and_erased(world: World) -> None:
    # Given a queued job (inference in flight) cancelled by its owner
    job = queued(world)
    world.plane.cancel_job("user-alice", job.job_id)
    world.webhooks.sent.clear()
    # When the round's result arrives, with its images and SageMaker's output
    key = f"results/{job.job_id}/r1/img0.png"
    world.storage.put(key, b"png")
    world.storage.put(
        "async-output/late.out",
        json.dumps(
            {
                "job_id": job.job_id,
                "round": 1,
                "images": [
                    {"image_id": "img0", "key": key, "style": "studio_gray", "seed": 1, "fidelity": {}, "kept": True}
                ],
            }
        ).encode(),
    )
    notification = InferenceNotification(f"{job.job_id}-r1", True, f"s3://{BUCKET}/async-output/late.out", None, None)
    outcome, _ = world.plane.record_result(notification)
    # Then the job stays cancelled without results, and what the round wrote is gone
    assert outcome is ResultOutcome.IGNORED
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and stored.results == []
    assert world.storage.listing(f"results/{job.job_id}/*") == [] and world.storage.listing("async-output/*") == []
    assert world.webhooks.sent == []


def test_an_upload_after_cancel_is_deleted_unread(world: World) -> None:
    job = create(world)
    world.plane.cancel_job("user-alice", job.job_id)
    photo = job.photos[0].photo_id
    world.storage.put(f"uploads/{job.job_id}/{photo}", b"person:0:shot:0")
    world.plane.record_upload(job.job_id, photo)
    assert world.storage.listing(f"*{job.job_id}*") == [] and world.checker.checked == []


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED, JobStatus.EXPIRED,
                                    JobStatus.CANCELLED, JobStatus.DELETED])  # fmt: skip
def test_a_finished_job_cannot_be_cancelled(world: World, status: JobStatus) -> None:
    job = create(world)
    job.status = status
    world.store.put(job)
    with pytest.raises(JobError) as refused:
        world.plane.cancel_job("user-alice", job.job_id)
    assert refused.value.code == "job_not_active"
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is status


def test_another_users_job_answers_like_a_missing_one(world: World) -> None:
    job = create(world)
    with pytest.raises(JobError) as missing:
        world.plane.cancel_job("user-mallory", job.job_id)
    assert missing.value.code == "not_found"
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.AWAITING_UPLOAD


def test_a_cancel_racing_another_change_is_retried_on_the_new_version(world: World) -> None:
    # Given a job that another writer changes just before the cancel's write
    job = create(world)

    def touch(store: object) -> None:
        current = world.store.jobs[job.job_id]
        current.version = (current.version or 0) + 1

    world.store.interfere = touch
    # When it is cancelled / Then the cancel lands on the new version
    assert world.plane.cancel_job("user-alice", job.job_id)["status"] == "cancelled"


def test_a_cancelled_job_can_still_be_deleted(world: World) -> None:
    job = create(world)
    world.plane.cancel_job("user-alice", job.job_id)
    world.plane.delete_job("user-alice", job.job_id)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.DELETED


def test_the_job_cancelled_event_is_delivered_with_the_cancelled_job(world: World) -> None:
    # Given a cancelled job whose job.cancelled event went through the queue
    job = create(world, webhook_url="https://hooks.example.com/h")
    world.plane.cancel_job("user-alice", job.job_id)
    (request,) = world.webhooks.sent
    request = WebhookRequest.from_message(request.to_message())
    # When the sender delivers it
    outcome = world.plane.deliver_webhook(request, 1, SECRET)
    # Then the receiver gets a job.cancelled event with a stable id and the cancelled job
    assert outcome.state is DeliveryState.DELIVERED
    ((_, body, _),) = world.receiver.calls
    event = json.loads(body)
    assert (event["id"], event["type"]) == (f"evt_{job.job_id}_cancelled_r0", "job.cancelled")
    assert event["data"]["status"] == "cancelled" and event["data"]["error"]["code"] == "cancelled_by_user"


def test_a_cancelled_job_cannot_be_regenerated(world: World) -> None:
    job = queued(world)
    world.plane.cancel_job("user-alice", job.job_id)
    with pytest.raises(JobError) as refused:
        world.plane.regenerate("user-alice", job.job_id, Regeneration(None, None))
    assert refused.value.code == "not_regenerable"
