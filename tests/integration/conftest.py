"""A running local stack (`headshot local up` in a subprocess) and a small client for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local import demo, stack

pytestmark = pytest.mark.integration


class RunningStack:
    def __init__(self, state: dict[str, Any], process: subprocess.Popen[str], state_file: Path) -> None:
        self.state = state
        self.process = process
        self.state_file = state_file
        session = {"endpoint_url": state["aws_endpoint_url"], "region_name": state["region"],
                   "aws_access_key_id": "local", "aws_secret_access_key": "local"}  # fmt: skip
        self.s3 = boto3.client("s3", **session)
        self.sqs = boto3.client("sqs", **session)
        self.dynamodb = boto3.client("dynamodb", **session)

    def token(self, user: str = "alice") -> str:
        return stack.token(self.state, user)

    def call(self, method: str, path: str, user: str | None = "alice", body: Any = None) -> tuple[int, Any]:
        token = self.token(user) if user else ""
        status, payload = demo.api_call(self.state, method, path, token, body)
        return status, payload

    def create_job(self, photos: list[bytes], webhook_url: str | None = None, user: str = "alice",
                   styles: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"photo_count": len(photos), "styles": styles or ["studio_gray"], "variants": 1}
        if webhook_url:
            body["webhook_url"] = webhook_url
        status, job = self.call("POST", "/v1/jobs", user, body)
        assert status == 201, job
        for data, slot in zip(photos, job["uploads"], strict=True):
            assert demo.upload(slot["url"], slot["fields"], data, "image/png") in (200, 201, 204)
        return dict(job)

    def wait(self, job_id: str, statuses: set[str], user: str = "alice", timeout_s: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            _, job = self.call("GET", f"/v1/jobs/{job_id}", user)
            if job["status"] in statuses:
                return dict(job)
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} stayed {job.get('status')} (wanted {statuses})")

    def object_keys(self, job_id: str | None = None) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.state["bucket"])
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return [k for k in keys if job_id is None or job_id in k]


def _start(tmp: Path, *args: str) -> RunningStack:
    env = os.environ | {"HEADSHOT_LOCAL_DIR": str(tmp), "LOG_LEVEL": "WARNING"}
    for name in [n for n in env if n.startswith("AWS_")]:
        env.pop(name)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "up", *args], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        raise RuntimeError("headshot local up exited before it was ready")
    ready = json.loads(line)
    state = json.loads(Path(ready["state_file"]).read_text())
    assert state["api_url"] == ready["api_url"]
    return RunningStack(state, process, Path(ready["state_file"]))


def _stop(running: RunningStack) -> None:
    running.process.terminate()
    running.process.wait(timeout=60)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = _start(tmp_path_factory.mktemp("stack"), "--parameter", "WebhookMaxAttempts=3")
    yield running
    _stop(running)


# The stalled stack's inference deadline: SageMaker's shortest RequestTTLSeconds, the shortest timeout.
STALLED_REQUEST_TTL_S = 60
STALLED_INVOCATION_TIMEOUT_S = 1


# The drills' stacks are the module's: they stop when test_faults.py is done instead of polling
# their queues on that worker until the end of the run.
@pytest.fixture(scope="module")
def stalled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose endpoint stalls past the job's inference deadline: the notification never comes in time."""
    running = _start(
        tmp_path_factory.mktemp("stalled"), "--inference-delay", "75",
        "--parameter", f"InferenceRequestTtlSeconds={STALLED_REQUEST_TTL_S}",
        "--parameter", f"InferenceInvocationTimeoutSeconds={STALLED_INVOCATION_TIMEOUT_S}",
    )  # fmt: skip
    yield running
    _stop(running)


@pytest.fixture(scope="module")
def failing_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose inference endpoint fails every request (a fault drill)."""
    running = _start(tmp_path_factory.mktemp("failing"), "--inference-failure-rate", "1")
    yield running
    _stop(running)


# One receiver for the demo and the tests: scripted statuses, every delivery kept.
Receiver = demo.WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()
