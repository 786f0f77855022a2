"""Notify and DeliverWebhook: stable event ids, signed delivery, backoff, the outcome recorded once."""

from __future__ import annotations

import json

from headshot.jobs import Job, JobStatus
from headshot.usecases.deliver_webhook import DeliveryState
from headshot.usecases.notifications import WebhookRequest
from headshot.webhooks import WebhookEventType, verify
from tests.fakes import World, failed
from tests.unit.usecases.conftest import create

SECRET = "whsec_aGVhZHNob3Qtd2ViaG9vay10ZXN0LWtleS0zMmJ5dGU="


def rejected(world: World, webhook_url: str | None = "https://hooks.example.com/h") -> Job:
    job = create(world, webhook_url=webhook_url)
    job.fail(JobStatus.REJECTED, "photos_rejected", "not enough usable photos", world.clock())
    return world.store.put(job)


def queued_request(world: World) -> WebhookRequest:
    job = rejected(world)
    world.plane.notify(job, WebhookEventType.JOB_REJECTED)
    (request,) = world.webhooks.sent
    return request


def test_events_have_stable_ids_and_only_jobs_with_a_webhook_notify(world: World) -> None:
    job = rejected(world)
    world.plane.notify(job, WebhookEventType.JOB_REJECTED)
    world.plane.notify(job, WebhookEventType.JOB_REJECTED)
    world.plane.notify(rejected(world, webhook_url=None), WebhookEventType.JOB_REJECTED)
    assert [r.event_id for r in world.webhooks.sent] == [f"evt_{job.job_id}_rejected_r0"] * 2
    assert world.webhooks.sent[0].created_at == "2026-11-21T05:00:00.000Z"


def test_the_queue_message_round_trips() -> None:
    request = WebhookRequest("job_1", WebhookEventType.JOB_FAILED, "evt_1", "2026-11-21T05:00:00.000Z")
    assert json.loads(request.to_message()) == {"job_id": "job_1", "type": "job.failed", "event_id": "evt_1",
                                                "created_at": "2026-11-21T05:00:00.000Z"}  # fmt: skip
    assert WebhookRequest.from_message(request.to_message()) == request


def test_a_delivery_is_signed_and_recorded(world: World) -> None:
    request = queued_request(world)
    outcome = world.plane.deliver_webhook(request, 1, SECRET)
    assert outcome.state is DeliveryState.DELIVERED
    ((url, body, headers),) = world.receiver.calls
    assert verify(SECRET, body, headers, now=int(world.clock().timestamp()))
    assert headers["webhook-id"] == request.event_id
    event = json.loads(body)
    assert url == "https://hooks.example.com/h" and event["type"] == "job.rejected" and event["id"] == request.event_id
    assert event["data"]["error"]["code"] == "photos_rejected"
    assert world.store.jobs[request.job_id].deliveries[request.event_id]["status"] == "delivered"
    # A redelivered message after success sends nothing more
    assert world.plane.deliver_webhook(request, 2, SECRET).state is DeliveryState.DELIVERED
    assert len(world.receiver.calls) == 1


def test_retryable_failures_back_off_then_are_recorded_when_out_of_attempts(world: World) -> None:
    request = queued_request(world)
    last = world.settings.webhook_max_attempts
    world.receiver.results = [failed(500, retryable=True)] * last
    retry = world.plane.deliver_webhook(request, 1, SECRET)
    assert retry.state is DeliveryState.RETRY and retry.retry_after_s and retry.retry_after_s > 0
    assert world.store.jobs[request.job_id].deliveries == {}
    final = world.plane.deliver_webhook(request, last, SECRET)
    assert final.state is DeliveryState.FAILED
    record = world.store.jobs[request.job_id].deliveries[request.event_id]
    assert (record["status"], record["attempts"], record["http_status"]) == ("failed", last, 500)


def test_a_permanent_client_error_is_not_retried(world: World) -> None:
    request = queued_request(world)
    world.receiver.results = [failed(410, retryable=False)]
    assert world.plane.deliver_webhook(request, 1, SECRET).state is DeliveryState.FAILED
    assert world.store.jobs[request.job_id].deliveries[request.event_id]["http_status"] == 410


def test_a_deleted_job_gets_no_webhook(world: World) -> None:
    request = queued_request(world)
    world.plane.delete_job("user-alice", request.job_id)
    assert world.plane.deliver_webhook(request, 1, SECRET).state is DeliveryState.DROPPED
    assert world.receiver.calls == []
