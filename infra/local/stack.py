"""The local stack: the whole pipeline on one machine, no AWS account, no Docker.

    moto server ........ S3, SQS, SNS, DynamoDB, Secrets Manager (loopback)
    S3 gate ............ S3 as the functions see it: POST policies and anonymous access checked (infra.local.s3_gate)
    resources .......... created from template.yaml (infra.local.resources)
    functions .......... each Lambda handler unchanged in its own worker process
    event sources ...... Lambda's SQS event-source mapping per SQS-triggered function
    HTTP API ........... API Gateway v2 payloads + JWT authorizer (infra.local.apigw)
    SageMaker async .... InvokeEndpointAsync wire protocol → the container (infra.local.sagemaker)
    container .......... the inference server process, studio backend
    schedules .......... the sweeper, every few seconds

Functions reach the emulators only through AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import boto3

from infra.aws_resources import REPO_ROOT, TEMPLATE
from infra.local.resources import (
    REGION,
    CreatedResources,
    LocalFunction,
    LocalResolver,
    SqsSource,
    create_all,
    create_content_credentials_secret,
    functions,
)
from infra.template_loader import load_template

log = logging.getLogger("headshot.local")
STATE_DIR: Final = Path(os.environ.get("HEADSHOT_LOCAL_DIR", REPO_ROOT / ".headshot-local"))
STATE_FILE: Final = STATE_DIR / "stack.json"
CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
                      "AWS_REGION": REGION}  # fmt: skip
SWEEP_PERIOD_S: Final = 5.0
LOCAL_CONCURRENCY_CAP: Final = 4


def local_concurrency(spec: LocalFunction, cap: int, serves_api: bool = False) -> int:
    """How many environments of ``spec`` run at once: its SQS sources' MaximumConcurrency, within ``cap``.

    A function behind the HTTP API runs at ``cap``: Lambda gives concurrent requests their own
    environments (only the stage's throttling bounds them, not emulated), so one slow request never
    queues the others behind it (200 concurrent clients waited over a minute behind one environment).
    """
    if serves_api:
        return max(1, cap)
    return max(1, min(cap, sum(_pollers(source, cap) for source in spec.sqs)))


def _pollers(source: SqsSource, cap: int) -> int:
    """Concurrent batches one event source delivers: its MaximumConcurrency (None: unbounded) within ``cap``."""
    return max(1, min(cap, source.max_concurrency or cap))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_http(url: str, timeout_s: float, expect: int = 200) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == expect:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout_s:.0f}s")


@dataclass
class StackOptions:
    port: int = 0  # HTTP API port (0: any free port)
    inference_failure_rate: float = 0.0
    inference_delay_s: float = 0.0
    sweep_period_s: float = SWEEP_PERIOD_S
    # Lambda runs an SQS consumer at its MaximumConcurrency; one machine shares a few cores among
    # all of them, so locally each function runs at most this many environments at once.
    concurrency_cap: int = LOCAL_CONCURRENCY_CAP
    state_file: Path = STATE_FILE
    # Template parameter overrides, as `sam deploy --parameter-overrides` would pass them.
    parameters: dict[str, str] = field(default_factory=dict)
    # Local-only settings the functions read (never set by template.yaml): http://127.0.0.1
    # receivers, and backoff and sweeper grace in seconds so drills finish in a test run.
    function_overrides: dict[str, str] = field(
        default_factory=lambda: {
            "HEADSHOT_WEBHOOK_ALLOW_LOOPBACK_HTTP": "1",
            "HEADSHOT_WEBHOOK_RETRY_BASE_SECONDS": "1",
            "HEADSHOT_SWEEP_GRACE_SECONDS": "5",  # the sweeper runs every few seconds locally too
        }
    )


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._stoppers: list[Any] = []
        self.state: dict[str, Any] = {}

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        started = time.monotonic()
        from moto.server import ThreadedMotoServer

        from infra.local.moto_strict import serialise_dynamodb

        serialise_dynamodb()  # conditional writes as atomic as DynamoDB's
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        moto.start()
        self._stoppers.append(moto.stop)
        host, port = moto.get_host_and_port()
        aws_url = f"http://{host}:{port}"
        os.environ.update(CREDENTIALS | {"AWS_ENDPOINT_URL": aws_url})
        clients = {name: boto3.client(name) for name in ("s3", "sqs", "sns", "dynamodb", "secretsmanager")}
        template = load_template(TEMPLATE)
        created, resolver = create_all(clients, parameters=self.options.parameters)

        s3_url = self._start_s3_gate(aws_url)
        c2pa_secret_arn, c2pa_chain = create_content_credentials_secret(clients["secretsmanager"])
        # The throwaway root, for verifying demo outputs as trusted (docs/CONTENT_CREDENTIALS.md).
        c2pa_root = self.options.state_file.parent / "c2pa-test-root.pem"
        c2pa_root.parent.mkdir(parents=True, exist_ok=True)
        c2pa_root.write_text(c2pa_chain.root_pem)
        container_url = self._start_container(aws_url, s3_url, c2pa_secret_arn)
        sagemaker_url = self._start_sagemaker(template, resolver, container_url)
        base_env = CREDENTIALS | {"AWS_ENDPOINT_URL": aws_url, "AWS_ENDPOINT_URL_S3": s3_url,
                                  "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker_url,
                                  "POWERTOOLS_TRACE_DISABLED": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        workers = self._start_functions(template, resolver, created, clients["sqs"], base_env)
        api_url, jwt = self._start_http_api(template, workers)

        self.state = {
            "api_url": api_url,
            "webhook_secret": created.webhook_secret,
            "aws_endpoint_url": aws_url,
            "s3_url": s3_url,
            "sagemaker_url": sagemaker_url,
            "container_url": container_url,
            "c2pa_test_root": str(c2pa_root),
            "bucket": created.bucket,
            "table": created.table,
            "queues": created.queue_urls,
            "lifecycle_rules": created.lifecycle_rules,
            "jwt": jwt,
            "region": REGION,
            "pid": os.getpid(),
            "started_in_s": round(time.monotonic() - started, 2),
        }
        self.options.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.options.state_file.write_text(json.dumps(self.state, indent=2))
        return self.state

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception:
                log.exception("while stopping")
        self._stoppers.clear()
        if (
            self.options.state_file.exists()
            and self.state
            and json.loads(self.options.state_file.read_text()).get("pid") == os.getpid()
        ):
            self.options.state_file.unlink()

    # ---- parts ---------------------------------------------------------------------------

    def _start_s3_gate(self, aws_url: str) -> str:
        """S3 for everything the stack runs: presigned URLs the API hands out point here, not at moto."""
        from infra.local.s3_gate import S3Gate

        gate = S3Gate(aws_url, {CREDENTIALS["AWS_ACCESS_KEY_ID"]: CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})
        url = gate.start()
        self._stoppers.append(gate.stop)
        return url

    def _start_container(self, aws_url: str, s3_url: str, c2pa_secret_arn: str) -> str:
        port = free_port()
        env = os.environ | CREDENTIALS | {
            "AWS_ENDPOINT_URL": aws_url, "AWS_ENDPOINT_URL_S3": s3_url,
            "SAGEMAKER_BIND_TO_PORT": str(port), "HEADSHOT_BIND_HOST": "127.0.0.1",
            "HEADSHOT_BACKEND": "studio", "HEADSHOT_MODEL_DIR": str(self.options.state_file.parent / "model"),
            "HEADSHOT_C2PA_SECRET_ARN": c2pa_secret_arn,
            "PYTHONUNBUFFERED": "1",
        }  # fmt: skip
        (self.options.state_file.parent / "model").mkdir(parents=True, exist_ok=True)
        # Its logs go to stderr: stdout carries only `headshot local up`'s ready line.
        process = subprocess.Popen([sys.executable, "-m", "headshot_inference.serve"], env=env, stdout=sys.stderr)

        def stop() -> None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

        self._stoppers.append(stop)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/ping", timeout_s=60)
        return url

    def _start_sagemaker(self, template: dict[str, Any], resolver: LocalResolver, container_url: str) -> str:
        from infra.local.sagemaker import SageMakerAsyncEmulator, endpoint_config_from_template

        config = endpoint_config_from_template(template, resolver.resolve)
        emulator = SageMakerAsyncEmulator(
            config,
            container_url,
            region=REGION,
            failure_rate=self.options.inference_failure_rate,
            delay_s=self.options.inference_delay_s,
        )
        url = emulator.start()
        self._stoppers.append(emulator.stop)
        return url

    def _start_functions(
        self, template: dict[str, Any], resolver: LocalResolver, created: CreatedResources, sqs: Any,
        base_env: dict[str, str],
    ) -> dict[str, Any]:  # fmt: skip
        from infra.local.apigw import routes_from_template
        from infra.local.workers import FunctionWorker, Schedule, SqsEventSource, stop_together

        workers: dict[str, FunctionWorker] = {}
        specs = functions(template, resolver)
        behind_api = {route.function for route in routes_from_template(template)}
        # One stopper for all of them, registered first: it stops whatever was started, side by side.
        self._stoppers.append(lambda: stop_together([worker.stop for worker in workers.values()]))
        for spec in specs:
            environment = spec.environment | base_env | self.options.function_overrides
            concurrency = local_concurrency(spec, self.options.concurrency_cap, spec.logical_id in behind_api)
            worker = FunctionWorker(spec, environment, concurrency)
            workers[spec.logical_id] = worker
            worker.start()
        for worker in workers.values():
            worker.wait_ready()
        for spec in specs:
            for source in spec.sqs:
                # One poller per concurrent batch, as Lambda scales an SQS mapping up to MaximumConcurrency.
                for _ in range(_pollers(source, self.options.concurrency_cap)):
                    mapping = SqsEventSource(
                        sqs, created.queue_urls[source.queue], resolver.arn(source.queue), source,
                        workers[spec.logical_id],
                    )  # fmt: skip
                    mapping.start()
                    self._stoppers.append(mapping.stop)
            if spec.schedules:
                schedule = Schedule(workers[spec.logical_id], self.options.sweep_period_s)
                schedule.start()
                self._stoppers.append(schedule.stop)
        return workers

    def _start_http_api(self, template: dict[str, Any], workers: dict[str, Any]) -> tuple[str, dict[str, str]]:
        from infra.local.apigw import HttpApiEmulator, LocalJwt, routes_from_template

        jwt = LocalJwt.generate()
        # Not serialized here: each worker environment runs one invocation at a time already, and a
        # function's environments run side by side (local_concurrency).
        api = HttpApiEmulator(
            routes_from_template(template), lambda fn, event: workers[fn].invoke(event), jwt, serialize=False
        )
        url = api.start(port=self.options.port)
        self._stoppers.append(api.stop)
        return url, jwt.to_json()


def read_state(state_file: Path = STATE_FILE) -> dict[str, Any] | None:
    """The running stack's state, or None when no stack answers."""
    if not state_file.exists():
        return None
    state: dict[str, Any] = json.loads(state_file.read_text())
    try:
        os.kill(int(state["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return state


def token(state: dict[str, Any], user: str) -> str:
    from infra.local.apigw import LocalJwt

    return LocalJwt.from_json(state["jwt"]).token(user)


def apply_retention(state: dict[str, Any], at: datetime) -> dict[str, list[str]]:
    """Apply the bucket's lifecycle rules and the table's TTL as of `at`; return what went."""
    env = {"endpoint_url": state["aws_endpoint_url"], "region_name": state["region"],
           "aws_access_key_id": "local", "aws_secret_access_key": "local"}  # fmt: skip
    s3 = boto3.client("s3", **env)
    deleted: dict[str, list[str]] = {"objects": [], "records": []}
    for rule in state["lifecycle_rules"]:
        days = rule.get("ExpirationInDays")
        if rule.get("Status") != "Enabled" or days in (None, ""):
            continue
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=state["bucket"], Prefix=rule.get("Prefix", "")):
            for item in page.get("Contents", []):
                # S3 expires an object `days` after creation (S3 also rounds up to midnight UTC; not modelled).
                age_days = (at - item["LastModified"]).total_seconds() / 86400
                if age_days >= int(days):
                    s3.delete_object(Bucket=state["bucket"], Key=item["Key"])
                    deleted["objects"].append(item["Key"])
    template = load_template(TEMPLATE)
    (table_props,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    ttl_attribute = table_props["TimeToLiveSpecification"]["AttributeName"]
    key_names = [k["AttributeName"] for k in table_props["KeySchema"]]
    dynamodb = boto3.client("dynamodb", **env)
    for scanned in dynamodb.get_paginator("scan").paginate(TableName=state["table"]):
        for record in scanned.get("Items", []):
            expires = record.get(ttl_attribute, {}).get("N")
            if expires is not None and float(expires) <= at.timestamp():
                dynamodb.delete_item(TableName=state["table"], Key={k: record[k] for k in key_names})
                deleted["records"].append(str(record[key_names[0]].get("S")))
    return deleted


class StopSignal:
    """SIGINT or SIGTERM, caught from the moment it is made (a signal during start-up counts too)."""

    def __init__(self) -> None:
        self._caught = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._caught.set())

    def wait(self, poll_s: float = 0.2) -> None:
        # Never one wait without a timeout: the kernel may hand the signal to any thread, which only
        # flags the interpreter; a main thread blocked on a lock for good would never run the handler
        # (a stalled stack once outlived the test's SIGTERM by minutes).
        while not self._caught.wait(poll_s):
            pass


def run_foreground(options: StackOptions) -> int:
    """`headshot local up`: start, print one JSON line when ready, stop everything on a signal."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"), stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    stack = LocalStack(options)
    stop_signal = StopSignal()
    try:
        state = stack.start()
        print(json.dumps({"api_url": state["api_url"], "state_file": str(options.state_file)}), flush=True)
        stop_signal.wait()
    finally:
        stack.stop()
    return 0
