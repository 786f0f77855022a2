"""The webhook sender: signed delivery, backoff through the queue, failures recorded and dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from headshot.jobs import JobStatus
from headshot.usecases.create_job import NewJob
from headshot.webhooks import WebhookEventType
from headshot.wiring import ControlPlane
from infra.local.demo import WebhookReceiver
from tests.fakes import FakeLambdaContext
from tests.unit.conftest import sqs_event as sqs_batch

SECRET = "whsec_aGVhZHNob3Qtd2ViaG9vay10ZXN0LWtleS0zMmJ5dGU="  # as tests/unit/conftest.py stores it


# The local stack's receiver: scripted statuses, every delivery kept.
Receiver = WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def app(control_world: dict[str, Any]) -> Any:
    return control_world["load"]("SendWebhookFunction", "send_webhook.app")


def rejected_job_message(world: dict[str, Any], url: str) -> dict[str, Any]:
    """A job rejected for its photos, with its webhook request as the queue holds it."""
    plane: ControlPlane = world["plane_for"]("ApiFunction")
    job_id = plane.create_job("user-alice", NewJob(webhook_url=url))["job_id"]
    job = world["store"].get(job_id)
    job.fail(JobStatus.REJECTED, "photos_rejected", "not enough usable photos", plane.clock())
    world["store"].save(job)
    plane.notify(job, WebhookEventType.JOB_REJECTED)
    got = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=1)
    message: dict[str, Any] = got["Messages"][0]
    return message


def sqs_event(message: dict[str, Any], attempt: int) -> dict[str, Any]:
    return sqs_batch([message["Body"]], "WebhookQueue", attempt, [message["MessageId"]], [message["ReceiptHandle"]])


def independent_signature_ok(headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: verify with the Standard Webhooks library and the whsec_ secret."""
    try:
        Webhook(SECRET).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_delivery_is_signed_and_recorded(
    app: Any, control_world: dict[str, Any], receiver: Receiver, lambda_context: FakeLambdaContext
) -> None:
    message = rejected_job_message(control_world, receiver.url)
    assert app.lambda_handler(sqs_event(message, 1), lambda_context) == {"batchItemFailures": []}
    (headers, body), = receiver.deliveries  # fmt: skip
    event = json.loads(body)
    assert independent_signature_ok(headers, body)
    assert event["type"] == "job.rejected"
    assert headers["webhook-id"] == event["id"]
    assert event["data"]["status"] == "rejected" and event["data"]["error"]["code"] == "photos_rejected"
    job = control_world["store"].get(event["data"]["job_id"])
    assert job.deliveries[event["id"]]["status"] == "delivered"


def test_server_error_retries_with_the_same_event_id(
    app: Any, control_world: dict[str, Any], receiver: Receiver, lambda_context: FakeLambdaContext
) -> None:
    # Given a receiver that fails twice, then recovers
    receiver.statuses = [500, 503]
    message = rejected_job_message(control_world, receiver.url)
    # When the message is delivered on attempts 1, 2 and 3
    first = app.lambda_handler(sqs_event(message, 1), lambda_context)
    second = app.lambda_handler(sqs_event(message, 2), lambda_context)
    third = app.lambda_handler(sqs_event(message, 3), lambda_context)
    # Then the first two are reported failed (redelivered after a backoff), the third succeeds
    assert first["batchItemFailures"] == second["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert third == {"batchItemFailures": []}
    ids = {json.loads(body)["id"] for _, body in receiver.deliveries}
    assert len(receiver.deliveries) == 3 and len(ids) == 1
    assert all(independent_signature_ok(h, b) for h, b in receiver.deliveries)


def test_out_of_attempts_records_the_failure_and_dead_letters(
    app: Any, control_world: dict[str, Any], receiver: Receiver, lambda_context: FakeLambdaContext
) -> None:
    receiver.statuses = [500] * 20
    message = rejected_job_message(control_world, receiver.url)
    last = int(app.plane.settings.webhook_max_attempts)
    response = app.lambda_handler(sqs_event(message, last), lambda_context)
    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]  # → DLQ by redrive
    job_id = json.loads(message["Body"])["job_id"]
    (record,) = control_world["store"].get(job_id).deliveries.values()
    assert record["status"] == "failed" and record["attempts"] == last and record["http_status"] == 500


def test_permanent_client_error_is_not_retried(
    app: Any, control_world: dict[str, Any], receiver: Receiver, lambda_context: FakeLambdaContext
) -> None:
    receiver.statuses = [410]
    message = rejected_job_message(control_world, receiver.url)
    assert app.lambda_handler(sqs_event(message, 1), lambda_context) == {"batchItemFailures": []}
    job_id = json.loads(message["Body"])["job_id"]
    (record,) = control_world["store"].get(job_id).deliveries.values()
    assert record["status"] == "failed" and record["http_status"] == 410


def test_deleted_job_gets_no_webhook(
    app: Any, control_world: dict[str, Any], receiver: Receiver, lambda_context: FakeLambdaContext
) -> None:
    message = rejected_job_message(control_world, receiver.url)
    job_id = json.loads(message["Body"])["job_id"]
    control_world["plane_for"]("ApiFunction").delete_job("user-alice", job_id)
    assert app.lambda_handler(sqs_event(message, 1), lambda_context) == {"batchItemFailures": []}
    assert receiver.deliveries == []
