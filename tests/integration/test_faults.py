"""Fault drills on the local stack: an endpoint that fails every request, and one that stalls past the deadline.

Apart from test_pipeline.py on purpose: each drill needs a stack of its own, and `make test`'s
`--dist loadfile` can then run these stacks on another worker while the main pipeline tests run.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from headshot.jobs import iso, utcnow
from infra.local.stack import StackOptions
from tests.integration.conftest import STALLED_INVOCATION_TIMEOUT_S, STALLED_REQUEST_TTL_S, Receiver, RunningStack
from tests.support import images

pytestmark = pytest.mark.integration


def test_inference_failure_fails_the_job_with_a_webhook(failing_stack: RunningStack, receiver: Receiver) -> None:
    job = failing_stack.create_job([images.encode(images.astronaut())], receiver.url)
    done = failing_stack.wait(job["job_id"], {"failed", "completed"})
    assert done["status"] == "failed" and done["error"]["code"]
    assert receiver.arrived.wait(30)
    assert receiver.events()[-1]["type"] == "job.failed"


def _invoked_version(running: RunningStack, job_id: str, timeout_s: float = 30) -> int:
    """The job record's version once its round is invoked (the last write before the notification)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        item = running.dynamodb.get_item(TableName=running.state["table"], Key={"job_id": {"S": job_id}},
                                         ConsistentRead=True)["Item"]  # fmt: skip
        if item["status"]["S"] == "queued" and json.loads(item["doc"]["S"]).get("inference_invoked"):
            return int(item["version"]["N"])
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} was not invoked within {timeout_s:.0f} s")


def _queued_since(running: RunningStack, job_id: str, version: int, age: timedelta) -> None:
    """Moves the job's clock back: its record says it was queued `age` ago (as apply_retention moves the bucket's).

    The same conditional write the functions make (the version read, then one more), so a write
    that raced it would be refused rather than lost.
    """
    running.dynamodb.update_item(
        TableName=running.state["table"],
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET updated_at = :at, version = :next",
        ConditionExpression="#status = :queued AND version = :seen",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":at": {"S": iso(utcnow() - age)}, ":queued": {"S": "queued"},
                                   ":seen": {"N": str(version)}, ":next": {"N": str(version + 1)}},
    )  # fmt: skip


@pytest.mark.slow
def test_lost_notification_is_ended_by_the_sweeper(stalled_stack: RunningStack, receiver: Receiver) -> None:
    # Given an endpoint that answers only after the job's deadline (request TTL 60 s + timeout 1 s,
    # plus the local sweeper's grace), and a job queued and invoked on it
    grace_s = int(StackOptions().function_overrides["HEADSHOT_SWEEP_GRACE_SECONDS"])
    deadline = timedelta(seconds=STALLED_REQUEST_TTL_S + STALLED_INVOCATION_TIMEOUT_S + grace_s)
    job = stalled_stack.create_job([images.encode(images.astronaut())], receiver.url)
    stalled_stack.wait(job["job_id"], {"queued"})
    version = _invoked_version(stalled_stack, job["job_id"])
    # When it has waited past that deadline with no notification (its record's clock moved back
    # instead of a minute of real waiting: SageMaker's shortest RequestTTLSeconds is 60 s)
    _queued_since(stalled_stack, job["job_id"], version, deadline + timedelta(seconds=2))
    # Then the scheduled sweeper expires the job and says so, well before the endpoint answers
    done = stalled_stack.wait(job["job_id"], {"expired", "completed", "failed"}, timeout_s=60)
    assert done["status"] == "expired" and done["error"]["code"] == "inference_timeout"
    assert receiver.arrived.wait(30) and receiver.events()[-1]["type"] == "job.expired"
