"""The webhook tools over the local stack's HTTP API: a test event, a redelivery, both verified by the library."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tests.integration.conftest import Receiver, RunningStack
from tests.support import images

pytestmark = pytest.mark.integration


def test_a_test_event_and_a_redelivery_arrive_signed(local_stack: RunningStack, receiver: Receiver) -> None:
    secret = Webhook(local_stack.state["webhook_secret"])
    # When a test event is asked for
    status, sent = local_stack.call("POST", "/v1/webhooks/test", "alice", {"webhook_url": receiver.url})
    # Then it arrived, and the Standard Webhooks library verifies it with the stack's secret
    assert status == 200 and sent["delivered"], sent
    headers, body = receiver.deliveries[-1]
    assert secret.verify(body, headers)["id"] == sent["event_id"]
    # Given a job whose event was delivered
    job = local_stack.create_job([images.encode(images.astronaut())], receiver.url)
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"})
    deadline = time.monotonic() + 30
    while not done.get("webhook_deliveries") and time.monotonic() < deadline:
        time.sleep(0.2)
        done = local_stack.call("GET", f"/v1/jobs/{job['job_id']}")[1]
    (delivery,) = done["webhook_deliveries"]
    arrived = len(receiver.deliveries)
    # When its owner asks for a redelivery
    status, queued = local_stack.call("POST", f"/v1/jobs/{job['job_id']}/webhook/redeliver")
    assert status == 202 and queued["event_id"] == delivery["event_id"]
    while len(receiver.deliveries) == arrived and time.monotonic() < deadline + 30:
        time.sleep(0.2)
    # Then the same event arrives again, with the same webhook-id, signed afresh
    headers, body = receiver.deliveries[-1]
    assert headers["webhook-id"] == delivery["event_id"] == json.loads(body)["id"]
    secret.verify(body, headers)
