"""The SageMaker async inference emulator against moto server and a fake model container, over real HTTP.

The client side is the real ``boto3`` ``sagemaker-runtime`` client, so these tests pin the
InvokeEndpointAsync wire protocol; the S3 objects and the SNS → SQS notifications are read back
from moto server the way the pipeline's functions read them.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from headshot.inference import SageMakerAsyncClient, parse_notification
from infra.local.sagemaker import (
    AsyncEndpointConfig,
    SageMakerAsyncEmulator,
    TemplateConfigError,
    endpoint_config_from_template,
    endpoint_name_from_template,
)
from infra.template_loader import load_template

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ENDPOINT = "headshot-inference-test"
REPO_ROOT = Path(__file__).resolve().parents[2]
NOTIFICATION_KEYS_COMPLETED = [
    "awsRegion", "eventTime", "receivedTime", "invocationStatus", "requestParameters", "responseParameters",
    "inferenceId", "eventVersion", "eventSource", "eventName",
]  # fmt: skip
NOTIFICATION_KEYS_FAILED = [
    "awsRegion", "eventTime", "receivedTime", "invocationStatus", "failureReason", "requestParameters",
    "responseParameters", "inferenceId", "eventVersion", "eventSource", "eventName",
]  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# ---- fake model container ---------------------------------------------------------------------


@dataclass
class FakeModel:
    """A /invocations server whose behaviour each request chooses: {"mode": "echo" | "status" | "sleep" | "block"}."""

    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[tuple[str, bytes]] = field(default_factory=list)  # (content type, body)
    active: int = 0
    max_active: int = 0
    blocked: threading.Event = field(default_factory=threading.Event)

    def answer(self, content_type: str, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            self.calls.append((content_type, body))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            request = json.loads(body)
            mode = request.get("mode", "echo")
            if mode == "sleep":
                self.release.wait(float(request["seconds"]))
            elif mode == "block":
                self.blocked.set()
                self.release.wait(10)
            if mode == "status":
                status = int(request["status"])
                return status, json.dumps({"error": {"code": "bad_request", "message": f"status {status}"}}).encode()
            return 200, json.dumps({"echo": request}).encode()
        finally:
            with self.lock:
                self.active -= 1


def _model_handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invocations":
                status, answer = 404, b"{}"
            else:
                status, answer = model.answer(self.headers.get("Content-Type", ""), body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the emulator gave up (invocation timeout)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# ---- fixtures -----------------------------------------------------------------------------------


@dataclass
class Aws:
    s3: S3Client
    sns: SNSClient
    sqs: SQSClient
    bucket: str
    success_topic: str
    error_topic: str
    success_queue: str
    error_queue: str

    def put_input(self, payload: dict[str, Any]) -> str:
        key = f"async-input/{uuid.uuid4()}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(payload).encode())
        return f"s3://{self.bucket}/{key}"

    def read(self, location: str) -> bytes:
        bucket, _, key = location.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def exists(self, location: str) -> bool:
        try:
            self.read(location)
        except ClientError:
            return False
        return True

    def notifications(self, queue_url: str, count: int = 1, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """SNS envelopes (raw delivery off) from the queue, ``count`` of them or fail after ``timeout_s``."""
        envelopes: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while len(envelopes) < count and time.monotonic() < deadline:
            response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in response.get("Messages", []):
                envelopes.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        assert len(envelopes) == count, f"expected {count} notification(s), got {len(envelopes)}"
        return envelopes

    def assert_empty(self, queue_url: str) -> None:
        response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        assert response.get("Messages", []) == []


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    suffix = uuid.uuid4().hex[:8]
    s3 = boto3.client("s3", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    bucket = f"headshot-test-{suffix}"
    s3.create_bucket(Bucket=bucket)
    topics, queues = [], []
    for kind in ("success", "error"):
        topic = sns.create_topic(Name=f"inference-{kind}-{suffix}")["TopicArn"]
        queue_url = sqs.create_queue(QueueName=f"inference-{kind}-{suffix}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
        topics.append(topic)
        queues.append(queue_url)
    return Aws(s3, sns, sqs, bucket, topics[0], topics[1], queues[0], queues[1])


@pytest.fixture
def model() -> Iterator[tuple[FakeModel, str]]:
    fake = FakeModel()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _model_handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


class FakeClock:
    """time.monotonic plus an offset the test advances (RequestTTLSeconds is at least 60 s)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


EmulatorFactory = Callable[..., SageMakerAsyncEmulator]


@pytest.fixture
def start_emulator(aws: Aws, model: tuple[FakeModel, str]) -> Iterator[EmulatorFactory]:
    started: list[SageMakerAsyncEmulator] = []

    def start(max_concurrent: int = 1, container_url: str | None = None, **options: Any) -> SageMakerAsyncEmulator:
        config = AsyncEndpointConfig(
            endpoint_name=ENDPOINT,
            s3_output_path=f"s3://{aws.bucket}/async-output/",
            s3_failure_path=f"s3://{aws.bucket}/async-failure/",
            success_topic_arn=aws.success_topic,
            error_topic_arn=aws.error_topic,
            max_concurrent_invocations=max_concurrent,
        )
        emulator = SageMakerAsyncEmulator(config, container_url or model[1], region=REGION, **options)
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    model[0].release.set()
    for emulator in started:
        emulator.stop(timeout_s=10)


def runtime_client(emulator: SageMakerAsyncEmulator, *, validate: bool = True) -> SageMakerRuntimeClient:
    return boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=emulator.url,
        config=Config(parameter_validation=validate, retries={"mode": "standard", "max_attempts": 1}),
    )


def invoke(client: SageMakerRuntimeClient, input_location: str, inference_id: str, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "InputLocation": input_location,
        "InferenceId": inference_id,
        "ContentType": "application/json",
        "RequestTTLSeconds": 600,
        "InvocationTimeoutSeconds": 30,
    } | overrides
    return dict(client.invoke_endpoint_async(**arguments))


def message_of(envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["Type"] == "Notification"
    message: dict[str, Any] = json.loads(envelope["Message"])
    return message


# ---- tests -----------------------------------------------------------------------------------------


def test_happy_path_writes_output_and_publishes_success(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given an emulated endpoint in front of an echoing model, and a request object in S3
    emulator = start_emulator()
    input_location = aws.put_input({"mode": "echo", "job_id": "job-1"})

    # When the real boto3 client invokes it asynchronously
    response = invoke(runtime_client(emulator), input_location, "job-1-r1")

    # Then SageMaker's 202 answer comes back with the id and both locations
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["InferenceId"] == "job-1-r1"
    inference_id = response["InferenceId"]
    assert response["OutputLocation"] == f"s3://{aws.bucket}/async-output/{inference_id}.out"
    assert response["FailureLocation"] == f"s3://{aws.bucket}/async-failure/{inference_id}-error.out"
    # And the success topic delivers SageMaker's InferenceResult notification, in its exact schema
    envelope = aws.notifications(aws.success_queue)[0]
    assert envelope["TopicArn"] == aws.success_topic
    message = message_of(envelope)
    assert list(message) == NOTIFICATION_KEYS_COMPLETED
    assert message["awsRegion"] == REGION
    assert TIMESTAMP.match(message["eventTime"]) and TIMESTAMP.match(message["receivedTime"])
    assert message["receivedTime"] <= message["eventTime"]
    assert message["invocationStatus"] == "Completed"
    assert message["requestParameters"] == {
        "contentType": "application/json",
        "endpointName": ENDPOINT,
        "inputLocation": input_location,
    }
    assert message["responseParameters"] == {
        "contentType": "application/json",
        "outputLocation": response["OutputLocation"],
    }
    assert message["inferenceId"] == "job-1-r1"
    assert (message["eventVersion"], message["eventSource"], message["eventName"]) == (
        "1.0",
        "aws:sagemaker",
        "InferenceResult",
    )
    # And the output object holds the container's body; the container got the input bytes as sent
    assert json.loads(aws.read(response["OutputLocation"])) == {"echo": {"mode": "echo", "job_id": "job-1"}}
    assert model[0].calls == [("application/json", aws.read(input_location))]
    assert not aws.exists(response["FailureLocation"])
    aws.assert_empty(aws.error_queue)
    # And the pipeline's own parser reads the SQS body as a success
    parsed = parse_notification(json.dumps(envelope))
    assert parsed is not None
    assert (parsed.inference_id, parsed.succeeded, parsed.output_location) == (
        "job-1-r1",
        True,
        response["OutputLocation"],
    )


def test_the_pipelines_client_reaches_the_emulator_through_the_environment(
    aws: Aws, start_emulator: EmulatorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the emulator's URL in the standard variable, as the local stack hands it to the functions
    emulator = start_emulator()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emulator.url)

    # When the functions' own client invokes the endpoint, unchanged
    invocation = SageMakerAsyncClient(ENDPOINT, request_ttl_s=3600, invocation_timeout_s=60).invoke(
        aws.put_input({"mode": "echo"}), "job-env-r1"
    )

    # Then it gets SageMaker's answer and the result arrives where it says
    assert invocation.inference_id == "job-env-r1"
    assert invocation.failure_location is not None
    message = message_of(aws.notifications(aws.success_queue)[0])
    assert message["responseParameters"]["outputLocation"] == invocation.output_location
    assert aws.exists(invocation.output_location)


def test_generated_inference_id_when_none_is_given(aws: Aws, start_emulator: EmulatorFactory) -> None:
    # Given an emulated endpoint
    emulator = start_emulator()

    # When the caller sends no InferenceId
    response = dict(
        runtime_client(emulator).invoke_endpoint_async(
            EndpointName=ENDPOINT, InputLocation=aws.put_input({"mode": "echo"}), ContentType="application/json"
        )
    )

    # Then SageMaker's generated id is returned and used in the notification
    assert re.fullmatch(UUID, str(response["InferenceId"]))
    assert message_of(aws.notifications(aws.success_queue)[0])["inferenceId"] == response["InferenceId"]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (422, "ClientError: Received client error (422) from model. See the SageMaker Endpoint logs"),
        (500, "ServerError: Received server error (500) from model. See the SageMaker Endpoint logs"),
    ],
)
def test_model_error_writes_failure_and_publishes_error(
    aws: Aws, start_emulator: EmulatorFactory, status: int, reason: str
) -> None:
    # Given a request the model answers with an error status
    emulator = start_emulator()
    input_location = aws.put_input({"mode": "status", "status": status})

    # When it is invoked
    response = invoke(runtime_client(emulator), input_location, f"job-{status}-r1")

    # Then the error topic gets a Failed notification with SageMaker's reason and the failure location
    envelope = aws.notifications(aws.error_queue)[0]
    assert envelope["TopicArn"] == aws.error_topic
    message = message_of(envelope)
    assert list(message) == NOTIFICATION_KEYS_FAILED
    assert message["invocationStatus"] == "Failed"
    assert message["failureReason"].startswith(reason)
    assert message["responseParameters"] == {
        "contentType": "application/json",
        "failureLocation": response["FailureLocation"],
    }
    # And the failure object holds the model's body; no output object, no success notification
    failure_body = aws.read(response["FailureLocation"])
    assert json.loads(failure_body)["error"]["message"] == f"status {status}"
    assert not aws.exists(response["OutputLocation"])
    aws.assert_empty(aws.success_queue)
    # And the pipeline's parser sees a failure pointing at that object
    parsed = parse_notification(json.dumps(envelope))
    assert parsed is not None
    assert (parsed.succeeded, parsed.failure_location) == (False, response["FailureLocation"])


def test_invocation_timeout_fails_with_model_error(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given a model that takes longer than the request's InvocationTimeoutSeconds
    emulator = start_emulator()
    input_location = aws.put_input({"mode": "sleep", "seconds": 5})

    # When it is invoked with a 1 s invocation timeout
    started = time.monotonic()
    response = invoke(runtime_client(emulator), input_location, "job-slow-r1", InvocationTimeoutSeconds=1)
    message = message_of(aws.notifications(aws.error_queue)[0])

    # Then the invocation fails as a timed-out ModelError after about a second
    assert time.monotonic() - started < 4
    assert message["failureReason"].startswith("ModelError: ")
    assert "timed out" in message["failureReason"]
    assert message["responseParameters"]["failureLocation"] == response["FailureLocation"]
    assert b"timed out" in aws.read(response["FailureLocation"])
    assert len(model[0].calls) == 1


def test_unreachable_container_fails_with_model_error(aws: Aws, start_emulator: EmulatorFactory) -> None:
    # Given an endpoint whose container is not listening
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    emulator = start_emulator(container_url=f"http://127.0.0.1:{closed_port}")

    # When it is invoked
    response = invoke(runtime_client(emulator), aws.put_input({"mode": "echo"}), "job-down-r1")

    # Then the error topic reports a ModelError and the failure object says why
    message = message_of(aws.notifications(aws.error_queue)[0])
    assert message["failureReason"].startswith("ModelError: ")
    assert b"could not be reached" in aws.read(response["FailureLocation"])


def test_request_ttl_expires_while_queued_behind_a_slow_request(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given one instance slot, busy with a request the model holds
    clock = FakeClock()
    emulator = start_emulator(max_concurrent=1, clock=clock)
    client = runtime_client(emulator)
    first = invoke(client, aws.put_input({"mode": "block"}), "job-first-r1")
    assert model[0].blocked.wait(5)

    # When a second request with the minimum TTL (60 s) waits in the queue past it
    second = invoke(client, aws.put_input({"mode": "echo"}), "job-second-r1", RequestTTLSeconds=60)
    clock.offset += 61
    model[0].release.set()

    # Then the first completes and the second expires without reaching the model
    completed = message_of(aws.notifications(aws.success_queue)[0])
    expired = message_of(aws.notifications(aws.error_queue)[0])
    assert completed["inferenceId"] == first["InferenceId"]
    assert expired["inferenceId"] == second["InferenceId"]
    assert expired["failureReason"].startswith("Request expired")
    assert expired["responseParameters"]["failureLocation"] == second["FailureLocation"]
    assert len(model[0].calls) == 1


def test_failure_rate_one_fails_every_invocation_without_calling_the_model(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given an endpoint whose fault drill fails every invocation
    emulator = start_emulator(failure_rate=1.0, seed=7)
    client = runtime_client(emulator)

    # When two requests are invoked
    responses = [invoke(client, aws.put_input({"mode": "echo"}), f"job-fault{n}-r1") for n in range(2)]

    # Then both fail as 500s from the model, the model never sees them
    messages = [message_of(e) for e in aws.notifications(aws.error_queue, count=2)]
    messages.sort(key=lambda m: str(m["inferenceId"]))
    assert [m["inferenceId"] for m in messages] == [r["InferenceId"] for r in responses]
    assert all(m["failureReason"].startswith("ServerError: Received server error (500)") for m in messages)
    assert all(aws.exists(r["FailureLocation"]) for r in responses)
    assert model[0].calls == []
    aws.assert_empty(aws.success_queue)


def test_inline_body_is_sent_to_the_model(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given an emulated endpoint
    emulator = start_emulator()

    # When the request travels inline (Body) instead of through S3 (InputLocation)
    payload = json.dumps({"mode": "echo", "inline": True}).encode()
    response = dict(
        runtime_client(emulator).invoke_endpoint_async(
            EndpointName=ENDPOINT, Body=payload, ContentType="application/json", InferenceId="job-inline-r1"
        )
    )

    # Then the model gets those bytes and the notification names no input location
    message = message_of(aws.notifications(aws.success_queue)[0])
    assert model[0].calls == [("application/json", payload)]
    assert message["requestParameters"] == {"contentType": "application/json", "endpointName": ENDPOINT}
    assert json.loads(aws.read(str(response["OutputLocation"]))) == {"echo": {"mode": "echo", "inline": True}}


def test_stop_lets_in_flight_work_finish(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given an invocation the model is working on
    emulator = start_emulator()
    client = runtime_client(emulator)
    response = invoke(client, aws.put_input({"mode": "sleep", "seconds": 0.5}), "job-inflight-r1")
    deadline = time.monotonic() + 5
    while not model[0].calls and time.monotonic() < deadline:
        time.sleep(0.02)

    # When the emulator is stopped
    emulator.stop(timeout_s=10)

    # Then the in-flight invocation still completes and notifies, and new calls are refused
    message = message_of(aws.notifications(aws.success_queue)[0])
    assert message["inferenceId"] == response["InferenceId"]
    assert aws.exists(response["OutputLocation"])
    with pytest.raises(EndpointConnectionError):
        invoke(client, aws.put_input({"mode": "echo"}), "job-late-r1")


def test_stop_during_the_injected_delay_drops_the_request(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given an invocation a worker has taken and is holding in the endpoint's injected delay
    emulator = start_emulator(delay_s=60)
    invoke(runtime_client(emulator), aws.put_input({"mode": "echo"}), "job-delayed-r1")
    deadline = time.monotonic() + 5
    while not emulator._queue.empty() and time.monotonic() < deadline:  # taken off the queue by the worker
        time.sleep(0.02)
    assert emulator._queue.empty()

    # When the emulator is stopped
    emulator.stop(timeout_s=10)

    # Then it is dropped like a queued request: the model never sees it and nothing is notified
    assert model[0].calls == []
    aws.assert_empty(aws.success_queue)
    aws.assert_empty(aws.error_queue)


def test_unknown_endpoint_is_a_validation_error(aws: Aws, start_emulator: EmulatorFactory) -> None:
    # Given an emulated endpoint
    emulator = start_emulator()

    # When the client names another endpoint
    with pytest.raises(ClientError) as raised:
        invoke(runtime_client(emulator), aws.put_input({"mode": "echo"}), "job-x-r1", EndpointName="no-such-endpoint")

    # Then botocore parses SageMaker's ValidationError (400)
    error = raised.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    aws.assert_empty(aws.error_queue)


def test_out_of_range_ttl_is_a_validation_error(aws: Aws, start_emulator: EmulatorFactory) -> None:
    # Given a client that skips botocore's own parameter checks
    emulator = start_emulator()
    client = runtime_client(emulator, validate=False)

    # When the RequestTTLSeconds header is below SageMaker's minimum
    with pytest.raises(ClientError) as raised:
        invoke(client, aws.put_input({"mode": "echo"}), "job-ttl-r1", RequestTTLSeconds=5)

    # Then the service side rejects it as SageMaker does
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "requestTTLSeconds" in raised.value.response["Error"]["Message"]


def test_concurrency_limit_is_respected(
    aws: Aws, model: tuple[FakeModel, str], start_emulator: EmulatorFactory
) -> None:
    # Given an instance allowed two concurrent invocations and a model that takes a while
    emulator = start_emulator(max_concurrent=2)
    client = runtime_client(emulator)

    # When five requests arrive at once
    responses = [invoke(client, aws.put_input({"mode": "sleep", "seconds": 0.4}), f"job-c{n}-r1") for n in range(5)]

    # Then all complete, but never more than two reach the model at the same time
    messages = [message_of(e) for e in aws.notifications(aws.success_queue, count=5, timeout_s=15)]
    assert sorted(m["inferenceId"] for m in messages) == sorted(r["InferenceId"] for r in responses)
    assert model[0].max_active == 2
    assert len(model[0].calls) == 5


# ---- template.yaml -----------------------------------------------------------------------------------


def _resolver(value: Any) -> Any:
    """A stand-in for the local stack's resolver: just enough intrinsics for the endpoint config."""
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return f"arn:aws:sns:{REGION}:123456789012:{value['Ref']}" if "Topic" in value["Ref"] else value["Ref"]
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"{logical_id}-{attribute}".lower()
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: m.group(1).lower(), value["Fn::Sub"])
    raise AssertionError(f"unexpected intrinsic {value}")


def test_endpoint_config_from_the_real_template() -> None:
    # Given template.yaml as the loader reads it
    template = load_template(REPO_ROOT / "template.yaml")

    # When the emulator's config is read from it
    config = endpoint_config_from_template(template, _resolver)

    # Then every value comes from InferenceEndpointConfig / InferenceEndpoint through the resolver
    assert config == AsyncEndpointConfig(
        endpoint_name="inferenceendpoint-endpointname",
        s3_output_path="s3://databucket/async-output/",
        s3_failure_path="s3://databucket/async-failure/",
        success_topic_arn=f"arn:aws:sns:{REGION}:123456789012:InferenceSuccessTopic",
        error_topic_arn=f"arn:aws:sns:{REGION}:123456789012:InferenceErrorTopic",
        max_concurrent_invocations=1,
    )
    assert endpoint_name_from_template(template, _resolver) == config.endpoint_name


def test_endpoint_config_from_a_minimal_template() -> None:
    # Given a template with an explicit endpoint name and no failure path or notifications
    template: dict[str, Any] = {
        "Resources": {
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "AsyncInferenceConfig": {
                        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": "3"},
                        "OutputConfig": {"S3OutputPath": "s3://bucket/out"},
                    }
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {"EndpointConfigName": {"Ref": "Config"}, "EndpointName": "my-endpoint"},
            },
        }
    }

    # When it is read, Then the optional parts are empty and the explicit name wins
    config = endpoint_config_from_template(template, _resolver)
    assert (config.endpoint_name, config.s3_failure_path, config.success_topic_arn) == ("my-endpoint", "", "")
    assert config.max_concurrent_invocations == 3
    assert endpoint_config_from_template(template, _resolver, endpoint_name="other").endpoint_name == "other"
    # And a template without an async endpoint config is refused
    with pytest.raises(TemplateConfigError):
        endpoint_config_from_template({"Resources": {}}, _resolver)
