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


class _InstanceLostError(Exception):
    """The execution environment is gone (timed out and killed, or died): never use it again."""


class _Instance:
    """One execution environment: a process with the handler imported, and the pipe to it."""

    def __init__(self, spec: LocalFunction, environment: dict[str, str]) -> None:
        self.spec = spec
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(spec, environment, child), name=f"lambda-{spec.logical_id}", daemon=True
        )
        self.process.start()
        child.close()  # only the worker holds this end: its death reads as end of input here

    def wait_ready(self, timeout_s: float) -> None:
        try:
            if not self._connection.poll(timeout_s):
                raise FunctionError(f"{self.spec.logical_id} did not start within {timeout_s:.0f}s")
            status, detail = self._connection.recv()
        except (EOFError, OSError) as error:
            raise FunctionError(f"{self.spec.logical_id} exited while starting") from error
        if status != "ready":
            raise FunctionError(f"{self.spec.logical_id} failed to start:\n{detail}")

    def invoke(self, event: dict[str, Any], timeout_s: float) -> tuple[str, Any]:
        try:
            self._connection.send(event)
            if not self._connection.poll(timeout_s):
                raise _InstanceLostError(f"{self.spec.logical_id} timed out after {self.spec.timeout_s}s")
            answer: tuple[str, Any] = self._connection.recv()
            return answer
        except (EOFError, OSError) as error:
            raise _InstanceLostError(f"{self.spec.logical_id}: Runtime exited ({type(error).__name__})") from error

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self._connection.close()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._connection.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.kill()
        self._connection.close()


def stop_together(stops: list[Any]) -> None:
    """Run these stop calls side by side: each waits for a process to exit (~0.2 s each, more on a busy host)."""
    threads = [threading.Thread(target=stop, name="stop", daemon=True) for stop in stops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class FunctionWorker:
    """A function's execution environments, supervised as Lambda supervises them.

    Up to ``concurrency`` invocations run at once, each in its own process with the handler
    imported once (a warm container) and reused while it stays healthy. An environment that
    times out is killed (its late answer must never reach the next caller), and one that dies
    (a crash, kill -9) is dropped: the next invocation gets a fresh one, with a cold start.
    """

    def __init__(self, spec: LocalFunction, environment: dict[str, str], concurrency: int = 1) -> None:
        self.spec = spec
        self.concurrency = max(1, concurrency)
        self._environment = environment
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._idle: list[_Instance] = []
        self._all: set[_Instance] = set()
        self._stopped = False
        # Lambda's grace for the answer to travel back (pickling, the pipe): not a longer timeout.
        self._answer_grace_s = 1.0

    def start(self) -> None:
        """Start one environment ahead of the first event, as a provisioned warm container."""
        self._idle.append(self._new_instance())

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        for instance in list(self._idle):
            try:
                instance.wait_ready(timeout_s)
            except FunctionError:
                self._discard(instance, kill=True)
                raise

    @property
    def pids(self) -> list[int]:
        """Process ids of the environments alive now (for drills)."""
        with self._lock:
            return [i.process.pid for i in self._all if i.process.pid is not None and i.process.is_alive()]

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._slots:  # at most `concurrency` at a time, like the function's concurrency limit
            instance = self._take()
            try:
                status, result = instance.invoke(event, self.spec.timeout_s + self._answer_grace_s)
            except _InstanceLostError as lost:
                log.warning("%s; a fresh environment serves the next invocation", lost)
                self._discard(instance, kill=True)
                raise FunctionError(str(lost)) from lost
            with self._lock:
                self._idle.append(instance)
        if status != "ok":
            raise FunctionError(f"{self.spec.logical_id}: {result}")
        return result

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            instances, self._idle = list(self._all), []
            self._all.clear()
        stop_together([instance.stop for instance in instances])

    def _take(self) -> _Instance:
        with self._lock:
            if self._stopped:
                raise FunctionError(f"{self.spec.logical_id} is stopped")
            while self._idle:
                instance = self._idle.pop()
                if instance.process.is_alive():
                    return instance
                self._all.discard(instance)  # died while idle (kill -9): never handed out
        instance = self._new_instance()  # a cold start
        try:
            instance.wait_ready(60.0)
        except FunctionError:
            self._discard(instance, kill=True)
            raise
        return instance

    def _new_instance(self) -> _Instance:
        instance = _Instance(self.spec, self._environment)
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._all.add(instance)
        if stopped:
            # stop() came while this environment started (it was not among those stop() ended).
            instance.kill()
            raise FunctionError(f"{self.spec.logical_id} is stopped")
        return instance

    def _discard(self, instance: _Instance, *, kill: bool) -> None:
        with self._lock:
            self._all.discard(instance)
            if instance in self._idle:
                self._idle.remove(instance)
        if kill:
            instance.kill()


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
            except Exception:
                # EventBridge keeps firing whatever one run did; a schedule that stops is a silent outage.
                log.exception("scheduled run of %s failed; the next one runs on time", self._worker.spec.logical_id)
