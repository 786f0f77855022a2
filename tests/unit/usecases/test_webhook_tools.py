"""The developer's webhook tools: a signed test event on request, and redelivery of a job's last event."""

from __future__ import annotations

import json

import pytest

from headshot.jobs import Job, JobError, JobStatus
from headshot.usecases.deliver_webhook import DeliveryState
from headshot.usecases.redeliver_webhook import RedeliverWebhook
from headshot.usecases.webhook_test_event import SendTestEvent
from headshot.webhooks import WebhookEventType, verify
from tests.fakes import World, failed
from tests.unit.usecases.conftest import create

SECRET = "whsec_aGVhZHNob3Qtd2ViaG9vay10ZXN0LWtleS0zMmJ5dGU="
URL = "https://hooks.example.com/h"


def send_test_event(world: World) -> SendTestEvent:
    return SendTestEvent(world.settings, world.receiver, lambda: SECRET, world.clock)


def redeliver(world: World) -> RedeliverWebhook:
    return RedeliverWebhook(world.store, world.webhooks)


def rejected_and_delivered(world: World, owner: str = "user-alice") -> Job:
    """A rejected job whose job.rejected event went through the sender once."""
    job = create(world, owner, webhook_url=URL)
    job.fail(JobStatus.REJECTED, "photos_rejected", "not enough usable photos", world.clock())
    world.store.put(job)
    world.plane.notify(job, WebhookEventType.JOB_REJECTED)
    (request,) = world.webhooks.sent
    world.webhooks.sent.clear()
    assert world.plane.deliver_webhook(request, 1, SECRET).state is DeliveryState.DELIVERED
    return world.store.jobs[job.job_id]


# ---- POST /v1/webhooks/test ----------------------------------------------------------------


def test_a_test_event_is_signed_sent_once_and_its_outcome_answered(world: World) -> None:
    # When a developer asks for a test event to their endpoint
    answer = send_test_event(world)(URL)
    # Then one signed webhook.test event went to that URL
    ((url, body, headers),) = world.receiver.calls
    event = json.loads(body)
    assert url == URL and event["type"] == "webhook.test" and event["id"] == answer["event_id"]
    assert event["id"].startswith("evt_test_") and headers["webhook-id"] == event["id"]
    assert verify(SECRET, body, headers, now=int(world.clock().timestamp()))
    # And the answer says what the endpoint did
    assert answer == {"event_id": event["id"], "type": "webhook.test", "delivered": True, "http_status": 200,
                      "error_code": None, "elapsed_ms": 1}  # fmt: skip


def test_a_failing_endpoint_is_reported_not_retried(world: World) -> None:
    world.receiver.results = [failed(503, retryable=True)]
    answer = send_test_event(world)(URL)
    assert (answer["delivered"], answer["http_status"], answer["error_code"]) == (False, 503, "http_status")
    assert len(world.receiver.calls) == 1


def test_every_test_event_has_its_own_id(world: World) -> None:
    first, second = send_test_event(world)(URL), send_test_event(world)(URL)
    assert first["event_id"] != second["event_id"]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/h",
        "https://10.0.0.1/h",
        "https://evil.example.net/h",
        "https://u:p@hooks.example.com/",
    ],
)
def test_the_webhook_url_policy_applies_and_nothing_is_sent(world: World, url: str) -> None:
    with pytest.raises(JobError) as refused:
        send_test_event(world)(url)
    assert refused.value.code == "invalid_webhook_url"
    assert world.receiver.calls == []


# ---- POST /v1/jobs/{id}/webhook/redeliver --------------------------------------------------


def test_redelivery_sends_the_last_event_again_with_the_same_id_and_body(world: World) -> None:
    # Given a job whose event was delivered
    job = rejected_and_delivered(world)
    ((_, first_body, first_headers),) = world.receiver.calls
    # When the owner asks for a redelivery
    answer = redeliver(world)("user-alice", job.job_id)
    # Then the same event is queued, marked as a redelivery
    (request,) = world.webhooks.sent
    assert request.redelivery and request.event_id == answer["event_id"] == first_headers["webhook-id"]
    assert answer == {"event_id": request.event_id, "type": "job.rejected"}
    # And the sender sends it although it was delivered before: same id, same envelope
    assert world.plane.deliver_webhook(request, 1, SECRET).state is DeliveryState.DELIVERED
    (_, again_body, again_headers) = world.receiver.calls[1]
    assert again_headers["webhook-id"] == first_headers["webhook-id"]
    assert {k: v for k, v in json.loads(again_body).items() if k != "data"} == {
        k: v for k, v in json.loads(first_body).items() if k != "data"
    }
    assert world.store.jobs[job.job_id].deliveries[request.event_id]["status"] == "delivered"


def test_a_redelivery_message_survives_the_queue(world: World) -> None:
    rejected_and_delivered(world)
    job = next(iter(world.store.jobs.values()))
    redeliver(world)("user-alice", job.job_id)
    (request,) = world.webhooks.sent
    assert type(request).from_message(request.to_message()) == request


def test_an_event_that_was_given_up_can_be_redelivered(world: World) -> None:
    # Given the receiver refused the event for good
    job = create(world, webhook_url=URL)
    job.fail(JobStatus.REJECTED, "photos_rejected", "not enough usable photos", world.clock())
    world.store.put(job)
    world.plane.notify(job, WebhookEventType.JOB_REJECTED)
    (request,) = world.webhooks.sent
    world.webhooks.sent.clear()
    world.receiver.results = [failed(404, retryable=False)]
    assert world.plane.deliver_webhook(request, 1, SECRET).state is DeliveryState.FAILED
    # When it is redelivered after the receiver was fixed
    redeliver(world)("user-alice", job.job_id)
    (again,) = world.webhooks.sent
    # Then it arrives and the record says delivered
    assert world.plane.deliver_webhook(again, 1, SECRET).state is DeliveryState.DELIVERED
    assert world.store.jobs[job.job_id].deliveries[request.event_id]["status"] == "delivered"


def test_the_last_of_several_events_is_redelivered(world: World) -> None:
    job = rejected_and_delivered(world)
    stored = world.store.jobs[job.job_id]
    later = "2099-01-01T00:00:00.000Z"
    stored.deliveries["evt_later"] = {"type": "job.failed", "status": "failed", "attempts": 8, "at": later}
    world.store.put(stored)
    assert redeliver(world)("user-alice", job.job_id) == {"event_id": "evt_later", "type": "job.failed"}


def test_no_event_yet_or_no_webhook_is_a_conflict(world: World) -> None:
    without_events = create(world, webhook_url=URL)
    without_webhook = create(world)
    for job in (without_events, without_webhook):
        with pytest.raises(JobError) as refused:
            redeliver(world)("user-alice", job.job_id)
        assert refused.value.code == "no_webhook_event"
    assert world.webhooks.sent == []


def test_another_users_or_a_deleted_job_is_not_found(world: World) -> None:
    job = rejected_and_delivered(world)
    with pytest.raises(JobError) as refused:
        redeliver(world)("user-mallory", job.job_id)
    assert refused.value.code == "not_found"
    world.plane.delete_job("user-alice", job.job_id)
    with pytest.raises(JobError) as gone:
        redeliver(world)("user-alice", job.job_id)
    assert gone.value.code == "not_found"
    assert world.webhooks.sent == []
