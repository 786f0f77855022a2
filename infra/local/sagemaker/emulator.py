"""One async inference endpoint instance: accepts calls, queues them, and runs them on its workers.

Each worker checks the request's ``RequestTTLSeconds`` (time spent queued), reads the input from S3
(or takes the inline ``Body``), POSTs it to the container's ``/invocations`` with
``InvocationTimeoutSeconds`` as the HTTP timeout, writes the response body to the output or failure
location, and then publishes SageMaker's ``InferenceResult`` notification to the success or error topic.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.httpserver import BackgroundServer
from infra.local.sagemaker.config import AsyncEndpointConfig
from infra.local.sagemaker.wire import (
    ARN_ACCOUNT,
    CONTAINER_NAME,
    DEFAULT_ACCOUNT,
    DEFAULT_CONTENT_TYPE,
    DEFAULT_INVOCATION_TIMEOUT_S,
    ENDPOINT_NAME,
    ERROR_CONTENT_TYPE,
    FILENAME,
    H_ACCEPT,
    H_CONTENT_TYPE,
    H_CUSTOM_ATTRIBUTES,
    H_FAILURE_LOCATION,
    H_FILENAME,
    H_INFERENCE_ID,
    H_INPUT_LOCATION,
    H_INVOCATION_TIMEOUT,
    H_OUTPUT_LOCATION,
    H_OUTPUT_PATH_EXTENSION,
    H_REQUEST_TTL,
    INPUT_LOCATION,
    INVOCATION_TIMEOUT_RANGE_S,
    LOGS_HINT,
    MAX_INLINE_BODY_BYTES,
    OUTPUT_PATH_EXTENSION,
    REQUEST_TTL_RANGE_S,
    ApiError,
    Handler,
    int_header,
    join_location,
    split_s3_uri,
    string_header,
    valid_inference_id,
    validation_error,
)

if TYPE_CHECKING:
    from email.message import Message

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

__all__ = ["SageMakerAsyncEmulator"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Request:
    inference_id: str
    input_location: str | None
    inline_body: bytes | None
    content_type: str
    accept: str | None
    custom_attributes: str | None
    ttl_s: int
    timeout_s: int
    output_location: str
    failure_location: str | None
    received_at: datetime
    enqueued_at: float  # the emulator's clock


@dataclass(frozen=True, slots=True)
class _Outcome:
    succeeded: bool
    body: bytes
    content_type: str
    failure_reason: str | None = None


def _failed(reason: str, detail: str | None = None) -> _Outcome:
    return _Outcome(False, (detail or reason).encode(), ERROR_CONTENT_TYPE, reason)


def _iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SageMakerAsyncEmulator:
    """One async inference endpoint: the InvokeEndpointAsync API, a queue, and one instance's workers.

    ``failure_rate`` (0..1, drawn from ``random.Random(seed)``) makes that share of invocations fail
    as a 500 from the model without calling the container; ``delay_s`` is slept before each
    container call (it occupies the worker, so queued requests wait longer; it does not count
    against ``InvocationTimeoutSeconds``; ``stop()`` during it drops the request). ``clock``
    measures queueing time for ``RequestTTLSeconds`` (tests advance it instead of waiting the 60 s
    minimum TTL).
    """

    def __init__(
        self,
        config: AsyncEndpointConfig,
        container_url: str,
        *,
        region: str = "us-east-1",
        failure_rate: float = 0.0,
        delay_s: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.max_concurrent_invocations < 1:
            raise ValueError("max_concurrent_invocations must be at least 1")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if delay_s < 0:
            raise ValueError("delay_s must not be negative")
        for path in filter(None, (config.s3_output_path, config.s3_failure_path)):
            split_s3_uri(join_location(path, "probe"))  # ValueError unless s3://bucket/...
        container = urlsplit(container_url)
        if container.scheme not in ("http", "https") or not container.hostname:
            raise ValueError(f"container_url must be an http(s) URL: {container_url}")
        self.config = config
        self.region = region
        self.failure_rate = failure_rate
        self.delay_s = delay_s
        self._container = container
        self._clock = clock
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        account = ARN_ACCOUNT.match(config.success_topic_arn or config.error_topic_arn or "")
        self._account = account.group(1) if account else DEFAULT_ACCOUNT
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._stopping = threading.Event()
        self._accepting = False
        self._api = BackgroundServer(Handler, self, name="sagemaker-async-api", poll_interval_s=0.2)
        self._workers: list[threading.Thread] = []
        self._s3: S3Client | None = None
        self._sns: SNSClient | None = None
        self._url: str | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind the API (``port=0``: an ephemeral port), start the workers; returns the base URL."""
        if self._api.running:
            raise RuntimeError("the emulator is already started")
        retries = Config(retries={"mode": "standard", "max_attempts": 3})
        self._s3 = boto3.client("s3", region_name=self.region, config=retries)
        self._sns = boto3.client("sns", region_name=self.region, config=retries)
        self._stopping.clear()
        self._queue = queue.Queue()  # a worker left running by an earlier stop() keeps the old one
        # Bind first: if the port is taken nothing else has started. A call that arrives before the
        # workers below waits in the queue.
        self._accepting = True
        try:
            self._url = self._api.start(host, port)
        except BaseException:
            self._accepting = False
            raise
        self._workers = [
            threading.Thread(
                target=self._work, args=(self._queue,), name=f"sagemaker-async-worker-{index}", daemon=True
            )
            for index in range(self.config.max_concurrent_invocations)
        ]
        for worker in self._workers:
            worker.start()
        logger.info(
            "SageMaker async endpoint %s listening on %s (container %s, %d concurrent)",
            self.config.endpoint_name,
            self._url,
            self._container.geturl(),
            self.config.max_concurrent_invocations,
        )
        return self._url

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, let in-flight invocations finish (up to ``timeout_s``), join the threads.

        Requests still waiting in the queue, or in the injected delay, are dropped (logged): no
        container call, no notification.
        Idempotent.
        """
        self._accepting = False
        self._api.stop()
        self._stopping.set()
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                logger.warning("worker %s still busy after %.0f s; leaving it (daemon thread)", worker.name, timeout_s)
        self._workers = []
        dropped = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            dropped += item is not None
        if dropped:
            logger.warning("dropped %d queued invocation(s) at stop", dropped)

    @property
    def url(self) -> str:
        """The base URL ``start()`` returned (for ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``)."""
        if self._url is None:
            raise RuntimeError("the emulator is not started")
        return self._url

    # ---- the API ------------------------------------------------------------------------------

    def accept(self, endpoint_name: str, headers: Message, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
        """Validate one InvokeEndpointAsync call and queue it; returns (response headers, JSON body)."""
        if not self._accepting:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable", "The endpoint is shutting down")
        if len(endpoint_name) > 63 or not ENDPOINT_NAME.match(endpoint_name):
            raise validation_error(
                f"1 validation error detected: Value '{endpoint_name}' at 'endpointName' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {ENDPOINT_NAME.pattern}"
            )
        if endpoint_name != self.config.endpoint_name:
            raise validation_error(f"Endpoint {endpoint_name} of account {self._account} not found.")
        input_location = string_header(headers, H_INPUT_LOCATION, "inputLocation", 1024, INPUT_LOCATION)
        if input_location is not None and body:
            raise validation_error("Body and InputLocation are mutually exclusive; provide exactly one of them.")
        if input_location is None and not body:
            raise validation_error("Either Body or InputLocation must be provided.")
        if len(body) > MAX_INLINE_BODY_BYTES:
            raise validation_error(f"The inline Body must not exceed {MAX_INLINE_BODY_BYTES} bytes.")
        if input_location is not None:
            try:
                split_s3_uri(input_location)
            except ValueError:
                raise validation_error(f"Invalid InputLocation: {input_location}") from None
        inference_id = headers.get(H_INFERENCE_ID) or str(uuid.uuid4())
        if not valid_inference_id(inference_id):
            raise validation_error(
                "1 validation error detected: Value at 'inferenceId' failed to satisfy constraint: "
                "Member must have length between 1 and 64 and consist of printable characters"
            )
        ttl_s = int_header(headers, H_REQUEST_TTL, "requestTTLSeconds", REQUEST_TTL_RANGE_S, REQUEST_TTL_RANGE_S[1])
        timeout_s = int_header(
            headers,
            H_INVOCATION_TIMEOUT,
            "invocationTimeoutSeconds",
            INVOCATION_TIMEOUT_RANGE_S,
            DEFAULT_INVOCATION_TIMEOUT_S,
        )
        content_type = string_header(headers, H_CONTENT_TYPE, "contentType", 1024, None) or DEFAULT_CONTENT_TYPE
        accept = string_header(headers, H_ACCEPT, "accept", 1024, None)
        custom_attributes = string_header(headers, H_CUSTOM_ATTRIBUTES, "customAttributes", 1024, None)
        extension = (
            string_header(headers, H_OUTPUT_PATH_EXTENSION, "s3OutputPathExtension", 512, OUTPUT_PATH_EXTENSION) or ""
        )
        filename = string_header(headers, H_FILENAME, "filename", 32, FILENAME)

        # Objects are named after the InferenceId, so a job's outputs are easy to find.
        name = inference_id
        output_location = join_location(self.config.s3_output_path, extension, filename or f"{name}.out")
        failure_location = (
            join_location(self.config.s3_failure_path, extension, f"{name}-error.out")
            if self.config.s3_failure_path
            else None
        )
        self._queue.put(
            _Request(
                inference_id=inference_id,
                input_location=input_location,
                inline_body=None if input_location is not None else body,
                content_type=content_type,
                accept=accept,
                custom_attributes=custom_attributes,
                ttl_s=ttl_s,
                timeout_s=timeout_s,
                output_location=output_location,
                failure_location=failure_location,
                received_at=datetime.now(UTC),
                enqueued_at=self._clock(),
            )
        )
        logger.info("queued inference %s (input %s)", inference_id, input_location or "inline body")
        response_headers = {H_OUTPUT_LOCATION: output_location}
        if failure_location is not None:
            response_headers[H_FAILURE_LOCATION] = failure_location
        return response_headers, {"InferenceId": inference_id}

    # ---- the instance -------------------------------------------------------------------------

    def _work(self, work_queue: queue.Queue[_Request | None]) -> None:
        while True:
            request = work_queue.get()
            if request is None:
                return
            if self._stopping.is_set():
                logger.warning("dropping queued inference %s: the endpoint is stopping", request.inference_id)
                continue
            try:
                self._process(request)
            except Exception:  # a worker must survive anything one request does
                logger.exception("inference %s: unexpected failure in the emulator", request.inference_id)

    def _process(self, request: _Request) -> None:
        waited_s = self._clock() - request.enqueued_at
        if waited_s > request.ttl_s:
            outcome = _failed(
                f"Request expired: it waited {waited_s:.0f} s in the queue, longer than its RequestTTLSeconds "
                f"({request.ttl_s} s), before an instance could take it."
            )
        else:
            # The injected delay comes before the container is called: a stop during it drops the
            # request as it drops those still queued (no container call, no notification).
            if self.delay_s and self._stopping.wait(self.delay_s):
                logger.warning("dropping inference %s: the endpoint stopped during its delay", request.inference_id)
                return
            outcome = self._invoke(request)
        self._deliver(request, outcome)

    def _invoke(self, request: _Request) -> _Outcome:
        with self._random_lock:
            injected = self.failure_rate > 0 and self._random.random() < self.failure_rate
        if injected:
            logger.info(
                "inference %s: injected model failure (failure_rate=%s)", request.inference_id, self.failure_rate
            )
            return _failed(
                f"ServerError: Received server error (500) from model. {LOGS_HINT}",
                "Injected fault: the emulated model answered 500 (failure_rate).",
            )
        try:
            payload = self._read_input(request)
        except (BotoCoreError, ClientError, ValueError) as error:
            logger.warning(
                "inference %s: cannot read input %s: %s", request.inference_id, request.input_location, error
            )
            code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
            return _failed(
                f"ClientError: Failed to download input data from {request.input_location}"
                + (f" ({code})." if code else ".")
            )
        return self._call_container(request, payload)

    def _read_input(self, request: _Request) -> bytes:
        if request.input_location is None:
            return request.inline_body or b""
        bucket, key = split_s3_uri(request.input_location)
        assert self._s3 is not None
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def _call_container(self, request: _Request, payload: bytes) -> _Outcome:
        connection_class = (
            http.client.HTTPSConnection if self._container.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self._container.hostname or "", self._container.port, timeout=request.timeout_s)
        headers = {"Content-Type": request.content_type}
        if request.accept:
            headers["Accept"] = request.accept
        if request.custom_attributes:
            headers[H_CUSTOM_ATTRIBUTES] = request.custom_attributes
        path = self._container.path.rstrip("/") + "/invocations"
        try:
            connection.request("POST", path, body=payload, headers=headers)
            response = connection.getresponse()
            body = response.read()
            status = response.status
            content_type = response.getheader("Content-Type") or DEFAULT_CONTENT_TYPE
        except TimeoutError:
            logger.warning("inference %s: container timed out after %d s", request.inference_id, request.timeout_s)
            return _failed(
                f"ModelError: Your invocation timed out while waiting for a response from container {CONTAINER_NAME} "
                f"(InvocationTimeoutSeconds={request.timeout_s}). {LOGS_HINT}"
            )
        except (OSError, http.client.HTTPException) as error:
            logger.warning("inference %s: container unreachable: %s", request.inference_id, error)
            return _failed(
                f"ModelError: Received server error (0) from {CONTAINER_NAME}: the container could not be reached "
                f"({type(error).__name__}). {LOGS_HINT}"
            )
        finally:
            connection.close()
        if 200 <= status < 300:
            return _Outcome(True, body, content_type)
        kind, label = ("ServerError", "server") if status >= 500 else ("ClientError", "client")
        logger.info("inference %s: container answered %d", request.inference_id, status)
        return _Outcome(False, body, content_type, f"{kind}: Received {label} error ({status}) from model. {LOGS_HINT}")

    def _deliver(self, request: _Request, outcome: _Outcome) -> None:
        """Write the result object, then notify (consumers read the object when the message arrives)."""
        if outcome.succeeded:
            try:
                self._put(request.output_location, outcome.body, outcome.content_type)
            except (BotoCoreError, ClientError, ValueError) as error:
                logger.error("inference %s: cannot write %s: %s", request.inference_id, request.output_location, error)
                outcome = _failed(f"ServerError: Failed to upload the inference response to {request.output_location}.")
        location = request.output_location if outcome.succeeded else request.failure_location
        if not outcome.succeeded and location is not None:
            try:
                self._put(location, outcome.body, outcome.content_type)
            except (BotoCoreError, ClientError, ValueError) as error:
                logger.error("inference %s: cannot write %s: %s", request.inference_id, location, error)
                location = None
        topic = self.config.success_topic_arn if outcome.succeeded else self.config.error_topic_arn
        notification = self._notification(request, outcome, location)
        logger.info("inference %s %s: %s", request.inference_id, notification["invocationStatus"], location or "-")
        if not topic:
            return
        assert self._sns is not None
        try:
            self._sns.publish(TopicArn=topic, Message=json.dumps(notification))
        except (BotoCoreError, ClientError) as error:
            logger.error("inference %s: cannot publish to %s: %s", request.inference_id, topic, error)

    def _put(self, location: str, body: bytes, content_type: str) -> None:
        bucket, key = split_s3_uri(location)
        assert self._s3 is not None
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def _notification(self, request: _Request, outcome: _Outcome, location: str | None) -> dict[str, Any]:
        """SageMaker's async ``InferenceResult`` event ("Check prediction results", Amazon SNS topics)."""
        notification: dict[str, Any] = {
            "awsRegion": self.region,
            "eventTime": _iso_millis(datetime.now(UTC)),
            "receivedTime": _iso_millis(request.received_at),
            "invocationStatus": "Completed" if outcome.succeeded else "Failed",
        }
        if not outcome.succeeded:
            notification["failureReason"] = outcome.failure_reason
        request_parameters = {"contentType": request.content_type, "endpointName": self.config.endpoint_name}
        if request.input_location is not None:
            request_parameters["inputLocation"] = request.input_location
        notification["requestParameters"] = request_parameters
        if location is not None:
            key = "outputLocation" if outcome.succeeded else "failureLocation"
            notification["responseParameters"] = {"contentType": outcome.content_type, key: location}
        notification |= {
            "inferenceId": request.inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        return notification
