"""EraseUser (DELETE /v1/me): every job, object and record of the caller goes at once, and each
of their webhook endpoints hears `user.erased`; other users keep everything."""

from __future__ import annotations

import pytest

from headshot.jobs import JobError, JobStatus
from headshot.usecases.deliver_webhook import DeliveryState
from headshot.usecases.ports import InferenceNotification
from headshot.webhooks import WebhookEventType
from tests.fakes import World, settings
from tests.unit.usecases.conftest import create, queued


def test_erasing_a_user_removes_every_job_object_and_record() -> None:
    world = World(settings=settings(MAX_ACTIVE_JOBS_PER_USER="5"))
    # Given alice has a queued job with photos and a result, a job awaiting upload, and a deleted job,
    # and holds a place in the active-job quota; bob has a job of his own
    busy = queued(world, photos=2)
    world.storage.put(f"results/{busy.job_id}/r1/r1-studio_gray-01.png", b"headshot")
    waiting = create(world, webhook_url="https://hooks.example.com/other")
    world.storage.put(f"uploads/{waiting.job_id}/{waiting.photos[0].photo_id}", b"selfie")
    gone = create(world)
    world.plane.delete_job("user-alice", gone.job_id)
    bobs = create(world, owner="user-bob", webhook_url="https://hooks.example.com/h")
    world.storage.put(f"uploads/{bobs.job_id}/{bobs.photos[0].photo_id}", b"bob's selfie")
    world.webhooks.sent.clear()
    # When alice asks for her erasure
    answer = world.plane.erase_user("user-alice")
    # Then nothing of hers is left: no object, no record, no quota item
    assert answer["erased_jobs"] == 3 and answer["status"] == "erased"
    assert [key for key in world.storage.listing() if bobs.job_id not in key] == []
    assert set(world.store.jobs) == {bobs.job_id}
    assert "user-alice" not in world.store.quotas
    with pytest.raises(JobError) as missing:
        world.plane.get_job("user-alice", busy.job_id)
    assert missing.value.code == "not_found"
    # And each of her webhook endpoints is told once, with the jobs it knew
    told = {(r.target_url, tuple(sorted((r.data or {})["job_ids"]))) for r in world.webhooks.sent}
    assert told == {("https://hooks.example.com/h", (busy.job_id,)),
                    ("https://hooks.example.com/other", (waiting.job_id,))}  # fmt: skip
    assert {r.event_type for r in world.webhooks.sent} == {WebhookEventType.USER_ERASED}
    assert sorted(answer["webhook_event_ids"]) == sorted(r.event_id for r in world.webhooks.sent)
    # And bob's job is untouched
    assert world.store.jobs[bobs.job_id].status is JobStatus.AWAITING_UPLOAD
    assert world.storage.listing() == [f"uploads/{bobs.job_id}/{bobs.photos[0].photo_id}"]


def test_erasing_a_user_with_nothing_answers_the_same(world: World) -> None:
    answer = world.plane.erase_user("user-nobody")
    assert (answer["status"], answer["erased_jobs"], answer["webhook_event_ids"]) == ("erased", 0, [])
    assert world.webhooks.sent == []


def test_a_result_that_lands_after_the_erasure_is_erased_too(world: World) -> None:
    # Given alice's queued job is erased while its round is still generating
    job = queued(world)
    world.plane.erase_user("user-alice")
    world.webhooks.sent.clear()
    # When the round's result arrives
    world.storage.put(f"results/{job.job_id}/r1/r1-studio_gray-01.png", b"late")
    world.storage.put("async-output/late.out", b'{"images": []}')
    output = f"s3://{world.storage.bucket}/async-output/late.out"
    world.plane.record_result(InferenceNotification(f"{job.job_id}-r1", True, output, None, None))
    # Then what it wrote is gone as well, and nobody is told
    assert world.storage.listing() == [] and world.webhooks.sent == []


def test_the_user_erased_event_is_signed_and_sent_to_its_target(world: World) -> None:
    # Given alice's erasure queued a user.erased event
    queued(world)
    world.webhooks.sent.clear()
    world.plane.erase_user("user-alice")
    (request,) = world.webhooks.sent
    # When the sender delivers it
    outcome = world.plane.deliver_webhook(request, 1, "whsec_" + "A" * 44)
    # Then it went to the job's endpoint with the event's data, though no job record is left
    assert outcome.state is DeliveryState.DELIVERED
    (sent,) = world.receiver.calls
    assert sent[0] == "https://hooks.example.com/h" and b'"type":"user.erased"' in sent[1].replace(b" ", b"")
