"""The local runner under drills (issue 11, section 2): bursts, stalled and killed workers, a dying sweeper.

These run the runner's parts on their own (the HTTP server, a function worker, a schedule), so a
drill takes seconds and needs no stack.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infra.aws_resources import TEMPLATE
from infra.local.httpserver import BackgroundServer, QuietHandler
from infra.local.resources import LocalFunction, LocalResolver, SqsSource, functions
from infra.local.stack import local_concurrency
from infra.local.workers import FunctionError, FunctionWorker, Schedule
from infra.template_loader import load_template
from tests.integration.conftest import Receiver, RunningStack
from tests.support import images

pytestmark = pytest.mark.integration


class _SlowCreate(QuietHandler):
    """Answers each POST after a little work, as the API function does."""

    def do_POST(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's naming)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(0.05)
        self.send_response(201)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _burst(port: int, clients: int) -> list[Any]:
    answers: list[Any] = []
    start = threading.Barrier(clients)

    def one() -> None:
        start.wait()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/v1/jobs", body=b"{}", headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            answers.append(response.status)
        except OSError as error:
            answers.append(repr(error))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.parametrize("clients", [64, 200])
def test_a_burst_of_concurrent_posts_is_served_without_resets(clients: int) -> None:
    # Given the local stack's HTTP server
    server = BackgroundServer(_SlowCreate, None, name="burst")
    port = int(server.start().rsplit(":", 1)[1])
    try:
        # When many clients POST at the same moment
        answers = _burst(port, clients)
    finally:
        server.stop()
    # Then every one is answered: none is reset by a full listen backlog
    assert answers == [201] * clients, [a for a in answers if a != 201][:3]


def _drill(timeout_s: int = 1) -> LocalFunction:
    return LocalFunction(
        logical_id="DrillFunction", module="drill_function", handler="lambda_handler", timeout_s=timeout_s,
        memory_mb=128, environment={}, code_dir=str(Path(__file__).parent),
    )  # fmt: skip


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[FunctionWorker]:
    running = FunctionWorker(_drill(), {"DRILL_LOG": str(tmp_path / "runs.log")})
    running.start()
    running.wait_ready()
    yield running
    running.stop()


def test_a_late_answer_never_reaches_the_next_caller(worker: FunctionWorker) -> None:
    # Given an invocation that runs past the function's timeout
    with pytest.raises(FunctionError, match="timed out"):
        worker.invoke({"sleep": 7, "echo": "first caller"})
    # When the next caller invokes
    answer = worker.invoke({"echo": "second caller"})
    # Then it gets its own answer, from a fresh environment (the stalled one was killed)
    assert answer["echo"] == "second caller"


def test_a_killed_environment_is_replaced(worker: FunctionWorker) -> None:
    # Given a warm environment that is killed with -9 while idle
    (pid,) = worker.pids
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    # When the function is invoked again / Then a fresh environment answers
    answer = worker.invoke({"echo": "after kill"})
    assert answer["echo"] == "after kill"
    assert answer["pid"] != pid


def test_an_environment_killed_mid_invocation_fails_that_one_only(worker: FunctionWorker) -> None:
    # Given an invocation in flight whose environment is killed with -9
    (pid,) = worker.pids
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    # When it ends / Then that invocation fails as a function error, and the next one is served
    with pytest.raises(FunctionError, match="Runtime exited"):
        worker.invoke({"sleep": 0.8, "echo": "killed"})
    assert worker.invoke({"echo": "next"})["echo"] == "next"


def test_a_cold_start_racing_a_stop_leaves_no_environment_running(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a function of concurrency 2 whose warm environment is busy, so the next invocation starts
    # a cold one, held just before that new environment is registered
    import infra.local.workers as workers

    worker = FunctionWorker(_drill(timeout_s=10), {}, concurrency=2)
    worker.start()
    worker.wait_ready()

    started: list[Any] = []
    registering, stopped = threading.Event(), threading.Event()
    original = workers._Instance.__init__

    def held_start(self: Any, *args: Any) -> None:
        original(self, *args)
        started.append(self)
        registering.set()
        stopped.wait(30)

    busy = threading.Thread(target=lambda: worker.invoke({"sleep": 1.5, "echo": "busy"}))
    busy.start()
    time.sleep(0.2)
    monkeypatch.setattr(workers._Instance, "__init__", held_start)
    outcome: list[BaseException | None] = []

    def cold() -> None:
        try:
            worker.invoke({"echo": "cold"})
            outcome.append(None)
        except FunctionError as error:
            outcome.append(error)

    racer = threading.Thread(target=cold)
    racer.start()
    assert registering.wait(30)
    # When the worker is stopped while that environment starts
    worker.stop()
    stopped.set()
    racer.join(30)
    busy.join(30)
    # Then the racing invocation fails as stopped, and its new environment does not outlive the stop
    assert len(outcome) == 1 and isinstance(outcome[0], FunctionError), outcome
    (late,) = started
    late.process.join(10)
    assert not late.process.is_alive()


STOP_SIGNAL_DRILL = """
import signal, threading, time
from infra.local.stack import StopSignal
stop_signal = StopSignal()
def receiver():
    time.sleep(0.3)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # delivered to this thread, not the main one
    time.sleep(30)
threading.Thread(target=receiver, daemon=True).start()
stop_signal.wait()
print("stopped", flush=True)
"""


def test_a_stop_signal_delivered_to_another_thread_still_stops_the_stack() -> None:
    # Given `headshot local up`'s wait for SIGTERM, and the signal handed by the kernel to a thread
    # other than the main one (as it may be: the stack runs dozens of threads)
    started = time.monotonic()
    # When it arrives
    done = subprocess.run(
        [sys.executable, "-c", STOP_SIGNAL_DRILL], capture_output=True, text=True, timeout=20,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    # Then the wait ends within a moment, not when something else happens to wake the main thread
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr
    assert time.monotonic() - started < 10


def test_invocations_run_concurrently_up_to_the_limit(tmp_path: Path) -> None:
    # Given a function allowed 3 concurrent environments
    running = FunctionWorker(_drill(timeout_s=10), {}, concurrency=3)
    running.start()
    running.wait_ready()
    try:
        # When 3 slow invocations arrive together
        answers: list[dict[str, Any]] = []
        threads = [threading.Thread(target=lambda: answers.append(running.invoke({"sleep": 1.5}))) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then each ran in its own environment at the same time
        assert len({a["pid"] for a in answers}) == 3
    finally:
        running.stop()


def test_the_schedule_survives_a_killed_sweeper(worker: FunctionWorker, tmp_path: Path) -> None:
    # Given a schedule firing every 0.2 s whose environment is killed with -9
    schedule = Schedule(worker, 0.2)
    schedule.start()
    try:
        (pid,) = worker.pids
        os.kill(pid, signal.SIGKILL)
        # When a few periods pass
        deadline = time.monotonic() + 20
        served: set[str] = set()
        while time.monotonic() < deadline and not served - {str(pid)}:
            time.sleep(0.2)
            log = tmp_path / "runs.log"
            served = set(log.read_text().split()) if log.exists() else set()
        # Then runs go on in a fresh environment and the schedule thread is alive
        assert served - {str(pid)}
        assert schedule.is_alive()
    finally:
        schedule.stop()


class _Flaky:
    """A function whose every other call fails in a way the runner did not foresee."""

    def __init__(self) -> None:
        self.spec = _drill()
        self.calls = 0

    def invoke(self, event: dict[str, Any]) -> Any:
        self.calls += 1
        if self.calls % 2:
            raise BrokenPipeError("the pipe broke")
        return {}


def test_the_schedule_survives_an_unforeseen_error() -> None:
    # Given a schedule whose function raises something other than a function error
    flaky = _Flaky()
    schedule = Schedule(flaky, 0.05)  # type: ignore[arg-type]
    schedule.start()
    try:
        # When a few periods pass
        time.sleep(0.6)
        # Then it kept firing
        assert flaky.calls >= 4
        assert schedule.is_alive()
    finally:
        schedule.stop()


def test_event_sources_carry_their_maximum_concurrency_from_the_template() -> None:
    # Given template.yaml's SQS event sources with a ScalingConfig
    template = load_template(TEMPLATE)
    expected = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: int(event["Properties"]["ScalingConfig"]["MaximumConcurrency"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS" and "ScalingConfig" in event["Properties"]
    }
    # When the local stack reads its functions
    found = {s.queue: s.max_concurrency for f in functions(template, LocalResolver(template)) for s in f.sqs}
    # Then each source's MaximumConcurrency is the template's
    assert expected
    assert {queue: found[queue] for queue in expected} == expected


@pytest.mark.parametrize(
    ("limits", "cap", "expected"),
    [([20], 4, 4), ([2], 4, 2), ([None], 3, 3), ([], 4, 1), ([2, 3], 8, 5)],
)
def test_a_consumer_runs_at_its_maximum_concurrency_within_the_local_cap(
    limits: list[int | None], cap: int, expected: int
) -> None:
    # Given a function's SQS sources with their MaximumConcurrency (None: Lambda's default scaling)
    spec = _drill()
    sources = [SqsSource(queue=f"Q{i}", batch_size=1, window_s=0, report_batch_item_failures=True,
                         max_concurrency=limit) for i, limit in enumerate(limits)]  # fmt: skip
    # When the local stack sizes it / Then it runs as many at once as the template allows, within the machine's cap
    assert local_concurrency(replace(spec, sqs=sources), cap) == expected


def test_a_function_behind_the_http_api_runs_at_the_local_cap() -> None:
    # Given a function with no SQS source that the HTTP API invokes / Then its requests run side by side
    assert local_concurrency(_drill(), 4, serves_api=True) == 4
    assert local_concurrency(_drill(), 4) == 1


# ---- the same drills on the whole local stack ------------------------------------------------


def _function_environments(stack_pid: int) -> list[int]:
    """Pids of the stack's Lambda environments: its multiprocessing children (not the container, not moto)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [stack_pid]
    while frontier:
        parent = frontier.pop()
        for pid in [p for p, ppid in parents.items() if ppid == parent]:
            frontier.append(pid)
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # killed, not yet reaped


def test_the_stack_serves_64_concurrent_job_creations(local_stack: RunningStack) -> None:
    # Given the local stack / When 64 users create a job at the same moment
    start = threading.Barrier(64)
    answers: list[int] = []

    def create(user: str) -> None:
        start.wait()
        status, _ = local_stack.call("POST", "/v1/jobs", user, {"photo_count": 1, "styles": ["studio_gray"]})
        answers.append(status)

    threads = [threading.Thread(target=create, args=(f"burst-{i}",)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one is created: no connection reset, no 5xx
    assert sorted(answers) == [201] * 64


def test_a_job_completes_after_every_function_environment_is_killed(
    local_stack: RunningStack, receiver: Receiver
) -> None:
    # Given a stack whose every function environment (API, validator, result, sender, sweeper) was killed with -9
    killed = _function_environments(local_stack.process.pid)
    assert len(killed) >= 5
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    # When a job is created and its photo uploaded
    job = local_stack.create_job([images.encode(images.astronaut())], receiver.url, user="after-kill")
    # Then fresh environments serve it to the end, webhook included
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected", "expired"}, user="after-kill")
    assert done["status"] == "completed", done
    assert receiver.arrived.wait(60)
    assert set(_function_environments(local_stack.process.pid)).isdisjoint(killed)


class _StallingReceiver(QuietHandler):
    """A webhook receiver that takes `app` seconds to answer (a slow customer endpoint)."""

    def do_POST(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's naming)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(self.app)
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()


def test_a_slow_api_request_does_not_hold_up_the_others(local_stack: RunningStack) -> None:
    # Given the API function's environments warm (a burst of requests started them; a cold start takes seconds)
    burst = [threading.Thread(target=local_stack.call, args=("GET", "/v1/styles", f"warm-{i}")) for i in range(6)]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    # And an API request that takes seconds: a webhook test event to a receiver that answers after 6 s
    stalling = BackgroundServer(_StallingReceiver, 6.0, name="stalling-receiver")
    url = stalling.start("127.0.0.1", 0) + "/hooks"
    slow = threading.Thread(
        target=local_stack.call, args=("POST", "/v1/webhooks/test", "slow-caller", {"webhook_url": url})
    )
    try:
        slow.start()
        time.sleep(1.0)  # the slow request is in the API function now
        # When another user asks for something quick meanwhile
        began = time.monotonic()
        status, _ = local_stack.call("GET", "/v1/styles", "quick-caller")
        waited = time.monotonic() - began
    finally:
        slow.join(timeout=30)
        stalling.stop()
    # Then it is answered without queueing behind the slow one, as Lambda runs concurrent invocations in
    # separate environments (200 concurrent clients queued behind one environment for over a minute)
    assert status == 200
    assert waited < 3.0, f"GET /v1/styles waited {waited:.1f} s behind the slow request"
