"""POST /v1/webhooks/test and POST /v1/jobs/{id}/webhook/redeliver through the api function's handler.

On moto: the signing secret comes from Secrets Manager through the production adapter, redeliveries
go to the webhook queue; the test event goes to a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from headshot.jobs import JobStatus
from headshot.usecases.create_job import NewJob
from headshot.wiring import ControlPlane, SecretsManagerSigningSecret, build_control_plane
from infra.local.demo import WebhookReceiver
from tests.unit.conftest import REGION
from tests.unit.test_api import _openapi_validator, call

SECRET = "whsec_aGVhZHNob3Qtd2ViaG9vay10ZXN0LWtleS0zMmJ5dGU="  # what tests/unit/conftest.py stores


@pytest.fixture
def api(control_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    module = control_world["load"]("ApiFunction", "api.app")
    plane: ControlPlane = control_world["plane_for"]("ApiFunction")
    # The production secret adapter, reading moto's Secrets Manager.
    with_secret = build_control_plane(
        plane.settings, control_world["store"], plane.get_job.storage, plane.record_upload.photo_limits,
        webhooks=plane.notify.queue, signing_secret=SecretsManagerSigningSecret(control_world["secret_arn"]),
    )  # fmt: skip
    monkeypatch.setattr(module, "plane", with_secret)
    return module


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


def queued(world: dict[str, Any]) -> list[dict[str, Any]]:
    got = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_a_test_event_reaches_the_endpoint_signed(api: Any, receiver: WebhookReceiver) -> None:
    # When a developer asks for a test event to their receiver
    status, body = call(api, "POST", "/v1/webhooks/test", {"webhook_url": receiver.url})
    # Then 200 says it was delivered, and the receiver verifies it with the Standard Webhooks library
    assert status == 200 and body["delivered"] is True and body["http_status"] == 204
    ((headers, raw),) = receiver.deliveries
    event = Webhook(SECRET).verify(raw, headers)
    assert event["type"] == "webhook.test" and event["id"] == body["event_id"]
    # And the answer and the event are as the OpenAPI document describes them
    _openapi_validator("WebhookTestResult").validate(body)
    _openapi_validator("WebhookTestEvent").validate(event)
    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
    signature = document["components"]["parameters"]["WebhookSignature"]["schema"]
    assert re.fullmatch(signature["pattern"], headers["webhook-signature"])


def test_a_refusing_endpoint_is_reported_in_the_answer(api: Any, receiver: WebhookReceiver) -> None:
    receiver.statuses = [401]
    status, body = call(api, "POST", "/v1/webhooks/test", {"webhook_url": receiver.url})
    assert status == 200 and (body["delivered"], body["http_status"], body["error_code"]) == (False, 401, "http_error")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "invalid_request"),
        ({"webhook_url": 7}, 400, "invalid_request"),
        ({"webhook_url": "https://x.example.com/", "extra": 1}, 400, "invalid_request"),
        ({"webhook_url": "https://evil.example.net/h"}, 422, "invalid_webhook_url"),
        ({"webhook_url": "https://169.254.169.254/latest"}, 422, "invalid_webhook_url"),
    ],
)
def test_a_bad_test_request_is_refused(api: Any, payload: dict[str, Any], status: int, code: str) -> None:
    got, body = call(api, "POST", "/v1/webhooks/test", payload)
    assert (got, body["error"]["code"]) == (status, code)


def test_the_test_route_needs_a_subject(api: Any, receiver: WebhookReceiver) -> None:
    status, _ = call(api, "POST", "/v1/webhooks/test", {"webhook_url": receiver.url}, sub=None)
    assert status == 401 and receiver.deliveries == []


def test_redeliver_queues_the_last_event_with_its_id(api: Any, control_world: dict[str, Any]) -> None:
    # Given a rejected job whose event was given up on
    plane: ControlPlane = control_world["plane_for"]("ApiFunction")
    job_id = plane.create_job("user-alice", NewJob(webhook_url="https://hooks.example.com/h"))["job_id"]
    job = control_world["store"].get(job_id)
    job.fail(JobStatus.REJECTED, "photos_rejected", "not enough usable photos", plane.clock())
    event_id = f"evt_{job_id}_rejected_r0"
    job.deliveries[event_id] = {"type": "job.rejected", "status": "failed", "attempts": 8, "http_status": 500,
                                "error_code": "http_error", "at": "2026-12-03T12:00:00.000Z",
                                "created_at": "2026-12-03T11:00:00.000Z"}  # fmt: skip
    control_world["store"].save(job)
    # When its owner asks for a redelivery
    status, body = call(api, "POST", f"/v1/jobs/{job_id}/webhook/redeliver")
    # Then 202 names the event, and the queue holds it again, marked as a redelivery
    assert (status, body) == (202, {"event_id": event_id, "type": "job.rejected"})
    _openapi_validator("WebhookRedelivery").validate(body)
    assert queued(control_world) == [{"job_id": job_id, "type": "job.rejected", "event_id": event_id,
                                      "created_at": "2026-12-03T11:00:00.000Z", "redelivery": True}]  # fmt: skip
    # And another user's request answers like a missing job
    assert call(api, "POST", f"/v1/jobs/{job_id}/webhook/redeliver", sub="user-mallory")[0] == 404


def test_redeliver_without_an_event_is_a_conflict(api: Any, control_world: dict[str, Any]) -> None:
    plane: ControlPlane = control_world["plane_for"]("ApiFunction")
    job_id = plane.create_job("user-alice", NewJob(webhook_url="https://hooks.example.com/h"))["job_id"]
    status, body = call(api, "POST", f"/v1/jobs/{job_id}/webhook/redeliver")
    assert (status, body["error"]["code"]) == (409, "no_webhook_event")
    assert queued(control_world) == []


def test_the_secret_adapter_reads_secrets_manager(control_world: dict[str, Any]) -> None:
    assert REGION and SecretsManagerSigningSecret(control_world["secret_arn"])() == SECRET
