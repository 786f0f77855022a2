"""Fault drills on the local stack: an endpoint that fails every request, and one that stalls past the deadline.

Apart from test_pipeline.py on purpose: each drill needs a stack of its own, and `make test`'s
`--dist loadfile` can then run these stacks on another worker while the main pipeline tests run.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import Receiver, RunningStack
from tests.support import images

pytestmark = pytest.mark.integration


def test_inference_failure_fails_the_job_with_a_webhook(failing_stack: RunningStack, receiver: Receiver) -> None:
    job = failing_stack.create_job([images.encode(images.astronaut())], receiver.url)
    done = failing_stack.wait(job["job_id"], {"failed", "completed"})
    assert done["status"] == "failed" and done["error"]["code"]
    assert receiver.arrived.wait(30)
    assert receiver.events()[-1]["type"] == "job.failed"


@pytest.mark.slow
def test_lost_notification_is_ended_by_the_sweeper(stalled_stack: RunningStack, receiver: Receiver) -> None:
    # Given an endpoint that answers only after the job's deadline (request TTL 60 s + timeout 1 s)
    job = stalled_stack.create_job([images.encode(images.astronaut())], receiver.url)
    stalled_stack.wait(job["job_id"], {"queued"})
    # When no notification arrives in time / Then the sweeper expires the job and says so
    done = stalled_stack.wait(job["job_id"], {"expired", "completed", "failed"}, timeout_s=120)
    assert done["status"] == "expired" and done["error"]["code"] == "inference_timeout"
    assert receiver.arrived.wait(30) and receiver.events()[-1]["type"] == "job.expired"
