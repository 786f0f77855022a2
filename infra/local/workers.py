"""Lambda functions as local worker processes, and the SQS event-source mapping that feeds them.

Each function runs unchanged in its own process with exactly the environment template.yaml
gives it (plus AWS_ENDPOINT_URL* pointing at the emulators), one invocation at a time. The
event-source mapping does what Lambda's does: long-poll a batch (size and window from the
template), invoke, delete what succeeded, leave reported failures to reappear after the
visibility timeout, and let the queue's redrive policy move poison messages to the DLQ.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

from infra.local.resources import ACCOUNT, REGION, LocalFunction, SqsSource

log = logging.getLogger("headshot.local")


class LocalContext:
    """The Lambda context attributes Powertools and handlers read."""

    def __init__(self, function: str, memory_mb: int, timeout_s: int) -> None:
        self.function_name = function
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _worker_main(spec: LocalFunction, environment: dict[str, str], connection: Connection) -> None:
    """Runs in the worker process: the handler is imported once (a warm Lambda container)."""
    import importlib
    import os
    import sys
    import traceback

    os.environ.update(environment)
    sys.path.insert(0, spec.code_dir)
    # Function output (logs, EMF metrics) goes to stderr: `headshot local up` keeps stdout for its ready line.
    os.dup2(2, 1)
    try:
        handler = getattr(importlib.import_module(spec.module), spec.handler)
    except Exception:
        connection.send(("fatal", traceback.format_exc()))
        return
    connection.send(("ready", None))
    while True:
        try:
            event = connection.recv()
        except EOFError:
            return
        if event is None:
            return
        try:
            result = handler(event, LocalContext(spec.logical_id, spec.memory_mb, spec.timeout_s))
            connection.send(("ok", result))
        except Exception as error:  # what Lambda reports as a function error
            traceback.print_exc()
            connection.send(("error", f"{type(error).__name__}: {error}"))


class FunctionError(RuntimeError):
    pass


class FunctionWorker:
    def __init__(self, spec: LocalFunction, environment: dict[str, str]) -> None:
        self.spec = spec
        self._environment = environment
        self._lock = threading.Lock()
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_worker_main, args=(spec, environment, child), name=f"lambda-{spec.logical_id}", daemon=True
        )

    def start(self) -> None:
        self._process.start()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        if not self._connection.poll(timeout_s):
            raise FunctionError(f"{self.spec.logical_id} did not start within {timeout_s:.0f}s")
        status, detail = self._connection.recv()
        if status != "ready":
            raise FunctionError(f"{self.spec.logical_id} failed to start:\n{detail}")

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:  # one invocation at a time, like one warm container
            self._connection.send(event)
            if not self._connection.poll(self.spec.timeout_s + 5):
                raise FunctionError(f"{self.spec.logical_id} timed out after {self.spec.timeout_s}s")
            status, result = self._connection.recv()
        if status != "ok":
            raise FunctionError(f"{self.spec.logical_id}: {result}")
        return result

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._connection.send(None)
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)


class SqsEventSource(threading.Thread):
    """Lambda's SQS event-source mapping for one (queue, function) pair."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, source: SqsSource, worker: FunctionWorker) -> None:
        super().__init__(name=f"esm-{source.queue}", daemon=True)
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn
        self._source = source
        self._worker = worker
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._receive()
                if batch:
                    self._deliver(batch)
            except Exception:
                log.exception("event source %s failed; retrying", self._source.queue)
                self._stopping.wait(1.0)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self._source.window_s
        while len(messages) < self._source.batch_size and not self._stopping.is_set():
            # Long-poll for the first message; then gather more only within the batching window.
            wait = 1 if not messages else int(max(0.0, min(1.0, deadline - time.monotonic())))
            got = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(10, self._source.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(got)
            if not messages or time.monotonic() >= deadline:
                break
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        try:
            response = self._worker.invoke(event)
        except FunctionError as error:
            # A function error fails the whole batch: every message returns after its visibility timeout.
            log.warning("%s failed a batch of %d: %s", self._worker.spec.logical_id, len(messages), error)
            return
        failed: set[str] = set()
        if self._source.report_batch_item_failures and isinstance(response, dict):
            failed = {item.get("itemIdentifier", "") for item in response.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
            ]
            self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attributes.get("SenderId", ACCOUNT),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                ),
            },
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": REGION,
        }


class Schedule(threading.Thread):
    """An EventBridge schedule, faster locally: invokes the function every `period_s` seconds."""

    def __init__(self, worker: FunctionWorker, period_s: float) -> None:
        super().__init__(name=f"schedule-{worker.spec.logical_id}", daemon=True)
        self._worker = worker
        self._period = period_s
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.wait(self._period):
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "region": REGION, "resources": [], "detail": {}}  # fmt: skip
            try:
                self._worker.invoke(event)
            except FunctionError as error:
                log.warning("scheduled run failed: %s", error)
