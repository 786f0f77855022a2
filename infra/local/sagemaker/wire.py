"""SageMaker Runtime's ``InvokeEndpointAsync`` on the wire: headers, limits, validation errors, the HTTP handler.

botocore's ``sagemaker-runtime`` service model: ``POST /endpoints/{EndpointName}/async-invocations``,
parameters in ``X-Amzn-SageMaker-*`` headers, errors in rest-json shape (``x-amzn-ErrorType``).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from infra.local.httpserver import QuietHandler

if TYPE_CHECKING:
    from email.message import Message

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
LOGS_HINT = "See the SageMaker Endpoint logs in your account for more information."

_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/async-invocations/?$")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
INPUT_LOCATION = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
OUTPUT_PATH_EXTENSION = re.compile(r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$")
FILENAME = re.compile(r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$")
ARN_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:(\d{12}):")


class ApiError(Exception):
    """An error answer in SageMaker Runtime's rest-json shape."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def validation_error(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "ValidationError", message)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key`` or of an S3 https URL (virtual-hosted or path style)."""
    match = INPUT_LOCATION.match(uri)
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


def join_location(base: str, *parts: str) -> str:
    location = base if base.endswith("/") else base + "/"
    for part in parts[:-1]:
        if part := part.strip("/"):
            location += part + "/"
    return location + parts[-1]


def int_header(headers: Message, name: str, member: str, bounds: tuple[int, int], default: int) -> int:
    raw = headers.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"1 validation error detected: Value '{raw}' at '{member}' must be an integer") from None
    low, high = bounds
    if value < low:
        raise validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )
    return value


def string_header(
    headers: Message, name: str, member: str, max_length: int, pattern: re.Pattern[str] | None
) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if not 1 <= len(value) <= max_length:
        raise validation_error(
            f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
            f"Member must have length between 1 and {max_length}"
        )
    if pattern is not None and not pattern.match(value):
        raise validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern.pattern}"
        )
    return value


def valid_inference_id(value: str) -> bool:
    return 1 <= len(value) <= 64 and not value[0].isspace() and value.isprintable()


class Acceptor(Protocol):
    """What the handler serves: validate one call and queue it (the emulator)."""

    def accept(self, endpoint_name: str, headers: Message, body: bytes) -> tuple[dict[str, str], dict[str, Any]]: ...


class Handler(QuietHandler):
    """``InvokeEndpointAsync`` on ``POST``; every other method and path is an unknown operation."""

    server_version = "SageMakerAsyncEmulator/1.0"

    def do_POST(self) -> None:  # noqa: N802 - http.server dispatches on this name
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
            match = _PATH.match(urlsplit(self.path).path)
            if match is None:
                raise ApiError(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
            emulator: Acceptor = self.app
            headers, payload = emulator.accept(unquote(match["name"]), self.headers, body)
        except ApiError as error:
            if error.status == HTTPStatus.SERVICE_UNAVAILABLE:
                self.close_connection = True
            self._send_error(error, request_id)
            return
        except Exception:  # never a stack trace to the client
            logger.exception("InvokeEndpointAsync failed (request %s)", request_id)
            internal = ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "InternalFailure", "Internal failure")
            self._send_error(internal, request_id)
            return
        self._send_json(HTTPStatus.ACCEPTED, payload, {"x-amzn-RequestId": request_id, **headers})

    def _unknown(self) -> None:
        self._read_body()
        unknown = ApiError(HTTPStatus.NOT_FOUND, "UnknownOperationException", "Unknown operation")
        self._send_error(unknown, str(uuid.uuid4()))

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _unknown  # noqa: N815

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # botocore always sends Content-Length; nothing else is read
            raise validation_error("Transfer-Encoding is not supported; send Content-Length")
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            self.close_connection = True
            raise validation_error("Invalid Content-Length") from None
        if size > 4 * MAX_INLINE_BODY_BYTES:
            self.close_connection = True
            raise validation_error(f"Request body is larger than {MAX_INLINE_BODY_BYTES} bytes")
        return self.rfile.read(size)

    def _send_error(self, error: ApiError, request_id: str) -> None:
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
