"""A SageMaker Asynchronous Inference endpoint on one machine (DESIGN.md §7).

The emulator speaks the real ``InvokeEndpointAsync`` wire protocol (botocore's ``sagemaker-runtime``
service model: ``POST /endpoints/{EndpointName}/async-invocations``, parameters in
``X-Amzn-SageMaker-*`` headers, ``202`` with ``InferenceId`` in the JSON body and the output and
failure locations in response headers), so unchanged code calling
``boto3.client("sagemaker-runtime").invoke_endpoint_async(...)`` works when
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` points here.

Behind the API it plays one endpoint instance: a queue and ``MaxConcurrentInvocationsPerInstance``
workers. Each worker checks the request's ``RequestTTLSeconds`` (time spent queued), reads the input
from S3 (or takes the inline ``Body``), POSTs it to the container's ``/invocations`` with
``InvocationTimeoutSeconds`` as the HTTP timeout, writes the response body to
``S3OutputPath/<InferenceId>.out`` (2xx) or ``S3FailurePath/<InferenceId>-error.out`` (anything else), and then
publishes SageMaker's ``InferenceResult`` notification to the success or error topic.

S3 and SNS are reached with boto3 clients created in :meth:`SageMakerAsyncEmulator.start`; they
honour ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_SNS`` and the usual
credential variables, so those must be in this process's environment before ``start()``.

Deliberate differences from the service: no SigV4 check, one instance (no auto scaling), the queue
lives in memory (requests still queued at :meth:`~SageMakerAsyncEmulator.stop` are dropped, with a
warning), ``IncludeInferenceResponseIn`` is not emulated, and ``failure_rate`` / ``delay_s`` inject
faults for drills.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import queue
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from email.message import Message

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

__all__ = [
    "AsyncEndpointConfig",
    "SageMakerAsyncEmulator",
    "TemplateConfigError",
    "endpoint_config_from_template",
    "endpoint_name_from_template",
]

logger = logging.getLogger(__name__)

# Request headers (botocore/data/sagemaker-runtime/2017-05-13/service-2.json, InvokeEndpointAsyncInput).
H_CONTENT_TYPE = "X-Amzn-SageMaker-Content-Type"
H_ACCEPT = "X-Amzn-SageMaker-Accept"
H_CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
H_INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
H_INPUT_LOCATION = "X-Amzn-SageMaker-InputLocation"
H_OUTPUT_PATH_EXTENSION = "X-Amzn-SageMaker-S3OutputPathExtension"
H_FILENAME = "X-Amzn-SageMaker-Filename"
H_REQUEST_TTL = "X-Amzn-SageMaker-RequestTTLSeconds"
H_INVOCATION_TIMEOUT = "X-Amzn-SageMaker-InvocationTimeoutSeconds"
# Response headers (InvokeEndpointAsyncOutput); InferenceId travels in the JSON body.
H_OUTPUT_LOCATION = "X-Amzn-SageMaker-OutputLocation"
H_FAILURE_LOCATION = "X-Amzn-SageMaker-FailureLocation"

REQUEST_TTL_RANGE_S = (60, 21600)  # default: the maximum, 6 hours
INVOCATION_TIMEOUT_RANGE_S = (1, 3600)
DEFAULT_INVOCATION_TIMEOUT_S = 900  # 15 minutes
MAX_INLINE_BODY_BYTES = 128_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"
ERROR_CONTENT_TYPE = "text/plain; charset=utf-8"
DEFAULT_ACCOUNT = "123456789012"
CONTAINER_NAME = "primary"
_LOGS_HINT = "See the SageMaker Endpoint logs in your account for more information."

_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/async-invocations/?$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_INPUT_LOCATION = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
_OUTPUT_PATH_EXTENSION = re.compile(r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$")
_FILENAME = re.compile(r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$")
_ARN_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:(\d{12}):")


@dataclass(frozen=True)
class AsyncEndpointConfig:
    """What the emulator needs from the endpoint config (AsyncInferenceConfig) and the endpoint.

    Empty ``s3_failure_path`` / topic ARNs mean "not configured", as in SageMaker: no failure
    object (and no ``FailureLocation``) resp. no notification.
    """

    endpoint_name: str
    s3_output_path: str  # "s3://bucket/async-output/"
    s3_failure_path: str  # "s3://bucket/async-failure/"
    success_topic_arn: str
    error_topic_arn: str
    max_concurrent_invocations: int  # per instance; the emulator has one instance


class TemplateConfigError(ValueError):
    """The template lacks what the emulator needs, or holds it ambiguously."""


class _ApiError(Exception):
    """An error answer in SageMaker Runtime's rest-json shape."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _validation_error(message: str) -> _ApiError:
    return _ApiError(HTTPStatus.BAD_REQUEST, "ValidationError", message)


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


def _split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key`` or of an S3 https URL (virtual-hosted or path style)."""
    match = _INPUT_LOCATION.match(uri)
    if not match:
        raise ValueError(f"not an S3 location: {uri}")
    scheme, host, rest = match.groups()
    if scheme == "s3":
        bucket, key = host, rest
    elif ".s3" in host and not host.startswith("s3."):
        bucket, key = host.split(".s3", 1)[0], rest
    else:
        bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise ValueError(f"S3 location without bucket or key: {uri}")
    return bucket, unquote(key) if scheme == "https" else key


def _join_location(base: str, *parts: str) -> str:
    location = base if base.endswith("/") else base + "/"
    for part in parts[:-1]:
        if part := part.strip("/"):
            location += part + "/"
    return location + parts[-1]


def _int_header(headers: Message, name: str, member: str, bounds: tuple[int, int], default: int) -> int:
    raw = headers.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _validation_error(
            f"1 validation error detected: Value '{raw}' at '{member}' must be an integer"
        ) from None
    low, high = bounds
    if value < low:
        raise _validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise _validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )
    return value


def _string_header(
    headers: Message, name: str, member: str, max_length: int, pattern: re.Pattern[str] | None
) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if not 1 <= len(value) <= max_length:
        raise _validation_error(
            f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
            f"Member must have length between 1 and {max_length}"
        )
    if pattern is not None and not pattern.match(value):
        raise _validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern.pattern}"
        )
    return value


def _valid_inference_id(value: str) -> bool:
    return 1 <= len(value) <= 64 and not value[0].isspace() and value.isprintable()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: SageMakerAsyncEmulator

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_idle_connections(self) -> None:
        """End keep-alive connections: their handlers see end of input; a response being written still goes out."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server_version = "SageMakerAsyncEmulator/1.0"

    def setup(self) -> None:
        super().setup()
        server = cast("_Server", self.server)
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = cast("_Server", self.server)
        with server.connections_lock:
            server.connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
            match = _PATH.match(urlsplit(self.path).path)
            if match is None:
                raise _ApiError(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
            emulator = cast("_Server", self.server).emulator
            headers, payload = emulator._accept(unquote(match["name"]), self.headers, body)
        except _ApiError as error:
            if error.status == HTTPStatus.SERVICE_UNAVAILABLE:
                self.close_connection = True
            self._send_error(error, request_id)
            return
        except Exception:  # never a stack trace to the client
            logger.exception("InvokeEndpointAsync failed (request %s)", request_id)
            internal = _ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "InternalFailure", "Internal failure")
            self._send_error(internal, request_id)
            return
        self._send_json(HTTPStatus.ACCEPTED, payload, {"x-amzn-RequestId": request_id, **headers})

    def _unknown(self) -> None:
        self._read_body()
        unknown = _ApiError(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
        self._send_error(unknown, str(uuid.uuid4()))

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _unknown  # noqa: N815

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # botocore always sends Content-Length; nothing else is read
            raise _validation_error("Transfer-Encoding is not supported; send Content-Length")
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            self.close_connection = True
            raise _validation_error("Invalid Content-Length") from None
        if size > 4 * MAX_INLINE_BODY_BYTES:
            self.close_connection = True
            raise _validation_error(f"Request body is larger than {MAX_INLINE_BODY_BYTES} bytes")
        return self.rfile.read(size)

    def _send_error(self, error: _ApiError, request_id: str) -> None:
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
        self._send_json(error.status, {"message": error.message}, headers)

    def _send_json(self, status: HTTPStatus, payload: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


class SageMakerAsyncEmulator:
    """One async inference endpoint: the InvokeEndpointAsync API, a queue, and one instance's workers.

    ``failure_rate`` (0..1, drawn from ``random.Random(seed)``) makes that share of invocations fail
    as a 500 from the model without calling the container; ``delay_s`` is slept before each
    container call (it occupies the worker, so queued requests wait longer; it does not count
    against ``InvocationTimeoutSeconds``). ``clock`` measures queueing time for ``RequestTTLSeconds``
    (tests advance it instead of waiting the 60 s minimum TTL).
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
            _split_s3_uri(_join_location(path, "probe"))  # ValueError unless s3://bucket/...
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
        account = _ARN_ACCOUNT.match(config.success_topic_arn or config.error_topic_arn or "")
        self._account = account.group(1) if account else DEFAULT_ACCOUNT
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._stopping = threading.Event()
        self._accepting = False
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._s3: S3Client | None = None
        self._sns: SNSClient | None = None
        self._url: str | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind the API (``port=0``: an ephemeral port), start the workers; returns the base URL."""
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        retries = Config(retries={"mode": "standard", "max_attempts": 3})
        self._s3 = boto3.client("s3", region_name=self.region, config=retries)
        self._sns = boto3.client("sns", region_name=self.region, config=retries)
        server = _Server((host, port))
        server.emulator = self
        bound_host, bound_port = server.server_address[:2]
        shown = str(bound_host)
        self._url = f"http://[{shown}]:{bound_port}" if ":" in shown else f"http://{shown}:{bound_port}"
        self._stopping.clear()
        self._queue = queue.Queue()  # a worker left running by an earlier stop() keeps the old one
        self._workers = [
            threading.Thread(
                target=self._work, args=(self._queue,), name=f"sagemaker-async-worker-{index}", daemon=True
            )
            for index in range(self.config.max_concurrent_invocations)
        ]
        for worker in self._workers:
            worker.start()
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sagemaker-async-api", daemon=True
        )
        self._accepting = True
        self._server_thread.start()
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

        Requests still waiting in the queue are dropped (logged): no container call, no notification.
        Idempotent.
        """
        self._accepting = False
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_idle_connections()
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
            self._server_thread = None
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

    def _accept(self, endpoint_name: str, headers: Message, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
        """Validate one InvokeEndpointAsync call and queue it; returns (response headers, JSON body)."""
        if not self._accepting:
            raise _ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable", "The endpoint is shutting down")
        if len(endpoint_name) > 63 or not _ENDPOINT_NAME.match(endpoint_name):
            raise _validation_error(
                f"1 validation error detected: Value '{endpoint_name}' at 'endpointName' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {_ENDPOINT_NAME.pattern}"
            )
        if endpoint_name != self.config.endpoint_name:
            raise _validation_error(f"Endpoint {endpoint_name} of account {self._account} not found.")
        input_location = _string_header(headers, H_INPUT_LOCATION, "inputLocation", 1024, _INPUT_LOCATION)
        if input_location is not None and body:
            raise _validation_error("Body and InputLocation are mutually exclusive; provide exactly one of them.")
        if input_location is None and not body:
            raise _validation_error("Either Body or InputLocation must be provided.")
        if len(body) > MAX_INLINE_BODY_BYTES:
            raise _validation_error(f"The inline Body must not exceed {MAX_INLINE_BODY_BYTES} bytes.")
        if input_location is not None:
            try:
                _split_s3_uri(input_location)
            except ValueError:
                raise _validation_error(f"Invalid InputLocation: {input_location}") from None
        inference_id = headers.get(H_INFERENCE_ID) or str(uuid.uuid4())
        if not _valid_inference_id(inference_id):
            raise _validation_error(
                "1 validation error detected: Value at 'inferenceId' failed to satisfy constraint: "
                "Member must have length between 1 and 64 and consist of printable characters"
            )
        ttl_s = _int_header(headers, H_REQUEST_TTL, "requestTTLSeconds", REQUEST_TTL_RANGE_S, REQUEST_TTL_RANGE_S[1])
        timeout_s = _int_header(
            headers,
            H_INVOCATION_TIMEOUT,
            "invocationTimeoutSeconds",
            INVOCATION_TIMEOUT_RANGE_S,
            DEFAULT_INVOCATION_TIMEOUT_S,
        )
        content_type = _string_header(headers, H_CONTENT_TYPE, "contentType", 1024, None) or DEFAULT_CONTENT_TYPE
        accept = _string_header(headers, H_ACCEPT, "accept", 1024, None)
        custom_attributes = _string_header(headers, H_CUSTOM_ATTRIBUTES, "customAttributes", 1024, None)
        extension = (
            _string_header(headers, H_OUTPUT_PATH_EXTENSION, "s3OutputPathExtension", 512, _OUTPUT_PATH_EXTENSION) or ""
        )
        filename = _string_header(headers, H_FILENAME, "filename", 32, _FILENAME)

        # DESIGN.md §7: objects are named after the InferenceId, so a job's outputs are easy to find.
        name = inference_id
        output_location = _join_location(self.config.s3_output_path, extension, filename or f"{name}.out")
        failure_location = (
            _join_location(self.config.s3_failure_path, extension, f"{name}-error.out")
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
            outcome = self._invoke(request)
        self._deliver(request, outcome)

    def _invoke(self, request: _Request) -> _Outcome:
        if self.delay_s:
            self._stopping.wait(self.delay_s)
        with self._random_lock:
            injected = self.failure_rate > 0 and self._random.random() < self.failure_rate
        if injected:
            logger.info(
                "inference %s: injected model failure (failure_rate=%s)", request.inference_id, self.failure_rate
            )
            return _failed(
                f"ServerError: Received server error (500) from model. {_LOGS_HINT}",
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
        bucket, key = _split_s3_uri(request.input_location)
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
                f"(InvocationTimeoutSeconds={request.timeout_s}). {_LOGS_HINT}"
            )
        except (OSError, http.client.HTTPException) as error:
            logger.warning("inference %s: container unreachable: %s", request.inference_id, error)
            return _failed(
                f"ModelError: Received server error (0) from {CONTAINER_NAME}: the container could not be reached "
                f"({type(error).__name__}). {_LOGS_HINT}"
            )
        finally:
            connection.close()
        if 200 <= status < 300:
            return _Outcome(True, body, content_type)
        kind, label = ("ServerError", "server") if status >= 500 else ("ClientError", "client")
        logger.info("inference %s: container answered %d", request.inference_id, status)
        return _Outcome(
            False, body, content_type, f"{kind}: Received {label} error ({status}) from model. {_LOGS_HINT}"
        )

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
        bucket, key = _split_s3_uri(location)
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


# ---- template.yaml ----------------------------------------------------------------------------


def _resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        raise TemplateConfigError("the template has no Resources")
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == kind
    }


def _async_endpoint_config(template: Mapping[str, Any], logical_id: str | None) -> tuple[str, dict[str, Any]]:
    configs = {
        config_id: props
        for config_id, props in _resources_of_type(template, "AWS::SageMaker::EndpointConfig").items()
        if "AsyncInferenceConfig" in props
    }
    if logical_id is not None:
        if logical_id not in configs:
            raise TemplateConfigError(
                f"{logical_id} is not an AWS::SageMaker::EndpointConfig with AsyncInferenceConfig"
            )
        return logical_id, configs[logical_id]
    if len(configs) != 1:
        raise TemplateConfigError(
            f"expected exactly one AWS::SageMaker::EndpointConfig with AsyncInferenceConfig, found {sorted(configs)}"
        )
    return next(iter(configs.items()))


def _refers_to(value: Any, logical_id: str) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    if value.get("Ref") == logical_id:
        return True
    target = value.get("Fn::GetAtt")
    if isinstance(target, str):
        target = target.split(".", 1)
    return isinstance(target, list) and len(target) == 2 and target[0] == logical_id


def _resolved_string(resolve: Callable[[Any], Any], value: Any, what: str) -> str:
    resolved = resolve(value)
    if not isinstance(resolved, str) or not resolved:
        raise TemplateConfigError(f"{what} did not resolve to a non-empty string: {resolved!r}")
    return resolved


def endpoint_name_from_template(
    template: Mapping[str, Any], resolve: Callable[[Any], Any], *, endpoint_config_id: str | None = None
) -> str:
    """The name of the AWS::SageMaker::Endpoint that uses the async endpoint config.

    The endpoint is the one whose ``EndpointConfigName`` refers (``Ref`` or ``Fn::GetAtt``) to the
    config (``endpoint_config_id``, or the template's only async endpoint config). Its name is
    ``resolve(Properties.EndpointName)`` when the template sets one, else
    ``resolve({"Fn::GetAtt": [<endpoint logical id>, "EndpointName"]})``: the same expression the
    functions' ``SAGEMAKER_ENDPOINT_NAME`` uses, so the resolver gives both sides one name.
    """
    config_id, _ = _async_endpoint_config(template, endpoint_config_id)
    endpoints = {
        endpoint_id: props
        for endpoint_id, props in _resources_of_type(template, "AWS::SageMaker::Endpoint").items()
        if _refers_to(props.get("EndpointConfigName"), config_id)
    }
    if len(endpoints) != 1:
        raise TemplateConfigError(
            f"expected exactly one AWS::SageMaker::Endpoint using {config_id}, found {sorted(endpoints)}"
        )
    endpoint_id, props = next(iter(endpoints.items()))
    expression = props.get("EndpointName", {"Fn::GetAtt": [endpoint_id, "EndpointName"]})
    return _resolved_string(resolve, expression, f"{endpoint_id} EndpointName")


def endpoint_config_from_template(
    template: Mapping[str, Any],
    resolve: Callable[[Any], Any],
    *,
    endpoint_name: str | None = None,
    endpoint_config_id: str | None = None,
) -> AsyncEndpointConfig:
    """The emulator's config from the template's AWS::SageMaker::EndpointConfig (AsyncInferenceConfig).

    ``template`` is what ``infra.template_loader.load_template`` returns; every value read is
    passed through ``resolve`` (the caller's intrinsic resolver; literals must come back unchanged).
    Reads ``OutputConfig.S3OutputPath`` (required), ``S3FailurePath`` and
    ``NotificationConfig.SuccessTopic`` / ``ErrorTopic`` (optional: ``""`` when absent) and
    ``ClientConfig.MaxConcurrentInvocationsPerInstance`` (1 when absent). The endpoint name is
    ``endpoint_name`` when given, else :func:`endpoint_name_from_template`. With several async
    endpoint configs, ``endpoint_config_id`` picks one by logical id.
    """
    config_id, props = _async_endpoint_config(template, endpoint_config_id)
    async_config = props["AsyncInferenceConfig"]
    output = async_config.get("OutputConfig") or {}
    notifications = output.get("NotificationConfig") or {}
    client = async_config.get("ClientConfig") or {}
    if "S3OutputPath" not in output:
        raise TemplateConfigError(f"{config_id} has no AsyncInferenceConfig.OutputConfig.S3OutputPath")

    def optional(value: Any, what: str) -> str:
        return "" if value is None else _resolved_string(resolve, value, what)

    concurrency: Any = client.get("MaxConcurrentInvocationsPerInstance")
    if concurrency is None:
        concurrency = 1
    else:
        concurrency = resolve(concurrency)
        try:
            concurrency = int(concurrency)
        except (TypeError, ValueError):
            message = f"MaxConcurrentInvocationsPerInstance is not an integer: {concurrency!r}"
            raise TemplateConfigError(message) from None
    if concurrency < 1:
        raise TemplateConfigError(f"MaxConcurrentInvocationsPerInstance must be at least 1: {concurrency}")
    config = AsyncEndpointConfig(
        endpoint_name=endpoint_name or endpoint_name_from_template(template, resolve, endpoint_config_id=config_id),
        s3_output_path=_resolved_string(resolve, output["S3OutputPath"], "S3OutputPath"),
        s3_failure_path=optional(output.get("S3FailurePath"), "S3FailurePath"),
        success_topic_arn=optional(notifications.get("SuccessTopic"), "SuccessTopic"),
        error_topic_arn=optional(notifications.get("ErrorTopic"), "ErrorTopic"),
        max_concurrent_invocations=concurrency,
    )
    for path in filter(None, (config.s3_output_path, config.s3_failure_path)):
        if not path.startswith("s3://"):
            raise TemplateConfigError(f"not an s3:// path: {path}")
    logger.debug("async endpoint config from %s: %s", config_id, config)
    return config
