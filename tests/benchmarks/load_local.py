"""Load drill on the local stack (`make load`): many concurrent mixed jobs through the HTTP API.

Starts a fresh `headshot local up` (as bench_local.py does, with the upload window shortened so
jobs that never get their photos expire during the run), then drives ``--jobs`` jobs from
``--concurrency`` client threads, each job through the HTTP API exactly as a client app would:
POST /v1/jobs, presigned POST uploads, and one shared webhook receiver that every job names as its
``webhook_url`` (signatures checked with the Standard Webhooks library on arrival). The mix:

    good            one photo of one person                   completed, job.completed
    multi           three photos of one person                completed, every photo accepted
    rejected        one photo with no usable face             rejected (photos_rejected), job.rejected,
                    (no face / face too small / two people      the photo's reason is the one it was made for
                    / corrupt bytes, in turn)
    never_uploaded  created, no photo ever sent               expired (uploads_not_received), job.expired
    deleted         uploaded, then DELETE at once             deleted: no object of the job in the bucket,
                    (while validating or queued)                no personal field in its record

A client thread holds a job from creation until its terminal webhook arrives (a deleted job: until
DELETE has answered and the bucket is checked), so ``--concurrency`` jobs are in flight at once;
a never-uploaded job only takes its thread for the create, and waits for the sweeper afterwards.
Checks, per job: created (201); terminal status and error code the truthful ones for its kind;
every expected webhook event delivered, each event id received once (a duplicate is accepted only
where the sender recorded more attempts than one, i.e. it did not see an earlier attempt succeed,
and it must carry the same id); every signature verifies; nothing of a deleted job left in the data
bucket (uploads/, photos/, requests/, results/, and SageMaker's outputs) and its record without
personal data; rejected and expired jobs keep no object. Measures upload done -> terminal webhook
received per job and prints p50/p95/max by kind, counts, wall time, concurrency and the host load.
Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))  # run as a script: make the repo importable

from infra.local import demo, stack  # noqa: E402
from infra.local.httpserver import BackgroundServer, QuietHandler  # noqa: E402

FACES_DIR: Final = Path(os.environ.get("HEADSHOT_TESTDATA_FACES", REPO_ROOT.parent / "shared" / "testdata" / "faces"))
KINDS: Final = ("good", "multi", "rejected", "never_uploaded", "deleted")
DEFAULT_MIX: Final = "good=40,multi=15,rejected=20,never_uploaded=10,deleted=15"
# The production default (settings: UPLOAD_WINDOW_SECONDS). With 200 jobs at once on a small machine
# the photo check runs minutes behind the uploads, and a job whose upload is still unchecked when
# the window closes expires as validation_timeout; 60 (the minimum) suits small quick runs.
DEFAULT_UPLOAD_WINDOW_S: Final = 900
CLIENT_TIMEOUT_S: Final = 60  # a client's patience per request (API Gateway itself gives up after 30 s)
RETRIES: Final = 5
PREFIXES: Final = ("uploads/", "photos/", "requests/", "results/")
EVENT_TYPES: Final = {"completed": "job.completed", "rejected": "job.rejected", "expired": "job.expired"}


# ---- the photos -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes
    content_type: str
    expect: str | None = None  # the reason code it must be rejected with; None: accepted


def _png(image: Any) -> bytes:
    from tests.support import images

    return images.encode(image)


def _shared(name: str) -> Photo | None:
    path = FACES_DIR / name
    if not path.is_file():
        return None
    content_type = "image/png" if name.endswith(".png") else "image/jpeg"
    return Photo(name, path.read_bytes(), content_type)


def photo_sets() -> dict[str, list[list[Photo]]]:
    """Per kind, the photo sets its jobs take in turn."""
    import skimage.data
    from PIL import Image

    from tests.support import images

    astronaut = images.astronaut()
    good = [[Photo("astronaut.png", _png(astronaut), "image/png")]]
    good += [[p] for p in map(_shared, ("obama.jpg", "biden.jpg", "alex-lacamoire.png")) if p is not None]
    obamas = [p for p in map(_shared, ("obama.jpg", "obama2.jpg", "obama3.jpg")) if p is not None]
    if len(obamas) == 3:
        multi = [obamas]
    else:  # without the shared set: a PNG and its JPEG, the second refused as a near-duplicate
        jpeg = images.encode(astronaut, "JPEG", quality=85)
        multi = [[good[0][0], Photo("astronaut.jpg", jpeg, "image/jpeg", "duplicate_photo")]]
    rejected = [
        [Photo("coffee.png", _png(Image.fromarray(skimage.data.coffee())), "image/png", "no_face")],
        [Photo("small-face.png", _png(images.pasted_small(astronaut, 1.3, 2400)), "image/png", "face_too_small")],
        [Photo("two-people.png", _png(images.side_by_side(astronaut, astronaut)), "image/png", "multiple_faces")],
        [Photo("random.jpg", images.random_bytes(), "image/jpeg", "corrupt_image")],
    ]
    return {"good": good, "multi": multi, "rejected": rejected, "deleted": good, "never_uploaded": [[]]}


# ---- the webhook receiver ---------------------------------------------------------------------


@dataclass
class Delivery:
    event_id: str
    job_id: str
    type: str
    arrived: float  # time.monotonic()
    verified: bool
    header_matches_body: bool


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server dispatches on this name
        receiver: Receiver = self.app
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        arrived = time.monotonic()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        receiver.record(dict(self.headers), body, arrived)


class Receiver:
    """One receiver for every job: keeps each delivery, verifies it on arrival, wakes the job's waiter."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self._webhook = Webhook(secret)
        self.deliveries: list[Delivery] = []
        self.unreadable: list[str] = []
        self._changed = threading.Condition()
        self._server = BackgroundServer(_Handler, self, name="load-webhook-receiver")
        self.url = self._server.start("127.0.0.1", 0) + "/hooks/headshot"

    def record(self, headers: dict[str, str], body: bytes, arrived: float) -> None:
        from standardwebhooks.webhooks import WebhookVerificationError

        lower = {k.lower(): v for k, v in headers.items()}
        try:
            self._webhook.verify(body, lower)
            verified = True
        except WebhookVerificationError:
            verified = False
        try:
            event = json.loads(body)
            delivery = Delivery(str(event["id"]), str(event["data"]["job_id"]), str(event["type"]), arrived, verified,
                                lower.get("webhook-id") == event["id"])  # fmt: skip
        except (ValueError, KeyError, TypeError):
            with self._changed:
                self.unreadable.append(body[:200].decode(errors="replace"))
            return
        with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()

    def first_of(self, job_id: str, timeout_s: float) -> Delivery | None:
        """The job's first delivery (any event; which one is checked afterwards), waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = next((d for d in self.deliveries if d.job_id == job_id), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._changed.wait(min(left, 1.0))

    def of_job(self, job_id: str) -> list[Delivery]:
        with self._changed:
            return [d for d in self.deliveries if d.job_id == job_id]

    def close(self) -> None:
        self._server.stop()


# ---- one job ----------------------------------------------------------------------------------


@dataclass
class JobRun:
    index: int
    kind: str
    photos: list[Photo]
    user: str
    job_id: str | None = None
    create_status: int | None = None
    created_at: float | None = None
    upload_codes: list[int] = field(default_factory=list)
    uploaded_at: float | None = None
    status_before_delete: str | None = None
    delete_status: int | None = None
    deleted_at: float | None = None
    left_after_delete: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)  # what a client retried, and why
    latency_s: float | None = None
    final: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def expected(self) -> tuple[str, str | None]:
        """The terminal status and error code this job must end with."""
        if self.kind in ("good", "multi"):
            return "completed", None
        if self.kind == "rejected":
            return "rejected", "photos_rejected"
        if self.kind == "never_uploaded":
            return "expired", "uploads_not_received"
        return "deleted", None


def run_job(state: dict[str, Any], receiver: Receiver, run: JobRun, wait_s: float) -> JobRun:
    try:
        _drive(state, receiver, run, wait_s)
    except Exception as error:  # a client error is a finding of the run, not a crash of the drill
        run.failures.append(f"client error: {type(error).__name__}: {error}")
    return run


def request(state: dict[str, Any], method: str, path: str, token: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
    """One API call as a client makes it (60 s timeout), with extra headers."""
    prepared = urllib.request.Request(
        state["api_url"] + path, data=json.dumps(body).encode() if body is not None else None, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"} | (headers or {}),
    )  # fmt: skip
    try:
        with urllib.request.urlopen(prepared, timeout=CLIENT_TIMEOUT_S) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def call(state: dict[str, Any], method: str, path: str, token: str, run: JobRun) -> tuple[int, Any]:
    """GET or DELETE (safe to repeat): tried again after a timeout, as a client would."""
    for attempt in range(1, RETRIES + 1):
        try:
            return request(state, method, path, token)
        except (TimeoutError, urllib.error.URLError, ConnectionError):
            if attempt == RETRIES:
                raise
            run.retries.append(f"{method} timed out")
    raise AssertionError("unreachable")


def create(state: dict[str, Any], token: str, body: dict[str, Any], key: str, run: JobRun) -> tuple[int, Any]:
    """POST /v1/jobs with an Idempotency-Key, sent again with the same key after a timeout or a 409
    request_in_progress (docs/API.md, "Retrying safely"): one job however many tries it takes."""
    for attempt in range(1, RETRIES + 1):
        try:
            status, answer = request(state, "POST", "/v1/jobs", token, body, {"Idempotency-Key": key})
        except (TimeoutError, urllib.error.URLError, ConnectionError):
            if attempt == RETRIES:
                raise
            run.retries.append("create timed out")
            continue
        if status == 409 and (answer or {}).get("error", {}).get("code") == "request_in_progress" and attempt < RETRIES:
            run.retries.append("create in progress (409)")
            time.sleep(2)
            continue
        return status, answer
    raise AssertionError("unreachable")


def _drive(state: dict[str, Any], receiver: Receiver, run: JobRun, wait_s: float) -> None:
    token = stack.token(state, run.user)
    body = {"photo_count": max(1, len(run.photos)), "variants": 1, "webhook_url": receiver.url,
            "client_reference": f"load-{run.index}-{run.kind}"}  # fmt: skip
    run.create_status, job = create(state, token, body, f"load-{run.index}-{uuid.uuid4().hex}", run)
    run.created_at = time.monotonic()
    if run.create_status != 201:
        run.failures.append(f"create answered {run.create_status}: {job}")
        return
    run.job_id = job["job_id"]
    if run.kind == "never_uploaded":
        return  # the sweeper's to end; checked after the run
    for photo, slot in zip(run.photos, job["uploads"], strict=True):
        run.upload_codes.append(demo.upload(slot["url"], slot["fields"], photo.data, photo.content_type))
    run.uploaded_at = time.monotonic()
    if any(code not in (200, 201, 204) for code in run.upload_codes):
        run.failures.append(f"upload answered {run.upload_codes}")
        return
    if run.kind == "deleted":
        # Mid-flight: once the upload has been picked up (validating or queued), not before.
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            _, seen = call(state, "GET", f"/v1/jobs/{run.job_id}", token, run)
            run.status_before_delete = seen.get("status") if isinstance(seen, dict) else None
            if run.status_before_delete != "awaiting_upload":
                break
            time.sleep(2)  # the local API runs one request at a time: polling must not crowd out the rest
        run.delete_status, _ = call(state, "DELETE", f"/v1/jobs/{run.job_id}", token, run)
        run.deleted_at = time.monotonic()
        if run.delete_status != 204:
            run.failures.append(f"DELETE answered {run.delete_status}")
        run.left_after_delete = job_keys(state, run.job_id)
        return
    delivery = receiver.first_of(run.job_id, wait_s)
    if delivery is not None:
        run.latency_s = delivery.arrived - run.uploaded_at


# ---- the bucket and the table -----------------------------------------------------------------


def _session(state: dict[str, Any]) -> dict[str, Any]:
    return {"endpoint_url": state["aws_endpoint_url"], "region_name": state["region"],
            "aws_access_key_id": "local", "aws_secret_access_key": "local"}  # fmt: skip


def _s3(state: dict[str, Any]) -> Any:
    import boto3

    return boto3.session.Session().client("s3", **_session(state))  # a session per thread: boto3's default is shared


def _dynamodb(state: dict[str, Any]) -> Any:
    import boto3

    return boto3.session.Session().client("dynamodb", **_session(state))


def job_keys(state: dict[str, Any], job_id: str) -> list[str]:
    """The job's objects under its own prefixes (what DELETE must have erased before it answered)."""
    s3 = _s3(state)
    keys = []
    for prefix in PREFIXES:
        listed = s3.list_objects_v2(Bucket=state["bucket"], Prefix=f"{prefix}{job_id}/")
        keys += [item["Key"] for item in listed.get("Contents", [])]
    return keys


def all_keys(state: dict[str, Any]) -> list[str]:
    pages = _s3(state).get_paginator("list_objects_v2").paginate(Bucket=state["bucket"])
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def personal_fields(state: dict[str, Any], job_id: str) -> list[str]:
    """What the raw table record of a deleted job still holds that DELETE must erase."""
    item = _dynamodb(state).get_item(TableName=state["table"], Key={"job_id": {"S": job_id}}).get("Item")
    if item is None:
        return ["no record (a deleted job keeps its record, without personal data)"]
    doc = json.loads(item["doc"]["S"])
    left = [name for name in ("webhook_url", "client_reference", "output_location") if doc.get(name)]
    left += [name for name in ("results", "inference_objects") if doc.get(name)]
    for photo in doc.get("photos", []):
        erased = ("embedding", "chip_signature", "skin_lab", "eye_openness", "key")
        left += [f"photos[{photo['index']}].{name}" for name in erased if photo.get(name)]
    return left


# ---- checks after the run ---------------------------------------------------------------------


def census(state: dict[str, Any]) -> Counter[str]:
    """Every job record in the table by status and error code, those no client heard of included
    (a create whose client timed out still creates the job)."""
    found: Counter[str] = Counter()
    for page in _dynamodb(state).get_paginator("scan").paginate(TableName=state["table"]):
        for item in page.get("Items", []):
            if not item["job_id"]["S"].startswith("job_") or "status" not in item:
                continue  # an owner's quota item or an Idempotency-Key record, not a job
            error = (json.loads(item.get("doc", {}).get("S") or "{}").get("error") or {}).get("code")
            found[f"{item['status']['S']}/{error}" if error else item["status"]["S"]] += 1
    return found


def check(state: dict[str, Any], receiver: Receiver, runs: list[JobRun], keys: list[str]) -> Counter[str]:
    """Reads every job once more and records each failure on its run; returns the duplicate causes."""
    duplicates: Counter[str] = Counter()
    for run in runs:
        if run.job_id is None:
            continue
        token = stack.token(state, run.user)
        code, job = call(state, "GET", f"/v1/jobs/{run.job_id}", token, run)
        if code != 200:
            run.failures.append(f"GET answered {code}")
            continue
        run.final = job
        if run.failures:  # the client gave up on this job midway: what follows would only repeat that
            run.failures.append(f"(the job itself ended {job['status']}/{(job.get('error') or {}).get('code')})")
            continue
        want_status, want_code = run.expected()
        error_code = (job.get("error") or {}).get("code")
        if job["status"] != want_status or error_code != want_code:
            run.failures.append(f"ended {job['status']}/{error_code}, expected {want_status}/{want_code}")
        _check_photos(run, job)
        _check_webhooks(run, job, receiver.of_job(run.job_id), duplicates)
        left = [k for k in keys if run.job_id in k]
        if run.kind == "deleted":
            if run.left_after_delete:
                run.failures.append(f"objects left when DELETE answered: {run.left_after_delete}")
            if left:
                run.failures.append(f"objects of the deleted job in the bucket after the run: {left}")
            personal = personal_fields(state, run.job_id)
            if personal:
                run.failures.append(f"the deleted job's record still holds: {personal}")
        elif run.kind in ("rejected", "never_uploaded") and left:
            run.failures.append(f"objects kept for a {job['status']} job: {left}")
    return duplicates


def _check_photos(run: JobRun, job: dict[str, Any]) -> None:
    if run.kind not in ("good", "multi", "rejected"):
        return
    got = [(p["status"], [r["code"] for r in p["reasons"]]) for p in job.get("photos", [])]
    for photo, (status, codes) in zip(run.photos, got, strict=False):
        if photo.expect is None and status != "accepted":
            run.failures.append(f"{photo.name} was {status} {codes}, expected accepted")
        if photo.expect is not None and (status != "rejected" or photo.expect not in codes):
            run.failures.append(f"{photo.name} was {status} {codes}, expected rejected for {photo.expect}")
    if len(got) != len(run.photos):
        run.failures.append(f"{len(got)} photos on the job, {len(run.photos)} uploaded")


def _check_webhooks(run: JobRun, job: dict[str, Any], deliveries: list[Delivery], duplicates: Counter[str]) -> None:
    want_status, _ = run.expected()
    records = {d["event_id"]: d for d in job.get("webhook_deliveries", [])}
    expected_ids = set()
    if want_status in EVENT_TYPES:  # round 0: the job never reached inference
        expected_ids.add(f"evt_{run.job_id}_{want_status}_r{job.get('round')}")
    by_id: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        by_id[delivery.event_id].append(delivery)
        if not delivery.verified:
            run.failures.append(f"{delivery.event_id}: signature did not verify")
        if not delivery.header_matches_body:
            run.failures.append(f"{delivery.event_id}: webhook-id header differs from the body's id")
        if want_status in EVENT_TYPES and delivery.type != EVENT_TYPES[want_status]:
            run.failures.append(f"{delivery.event_id}: type {delivery.type}, expected {EVENT_TYPES[want_status]}")
    for event_id in expected_ids - by_id.keys():
        run.failures.append(f"no webhook {event_id} (record: {records.get(event_id)})")
    for event_id, received in by_id.items():
        if event_id not in expected_ids:
            if run.kind == "deleted" and run.deleted_at is not None and received[0].arrived < run.deleted_at:
                continue  # the job finished before DELETE reached it: its event is truthful
            run.failures.append(f"unexpected webhook {event_id} ({len(received)}x)")
            continue
        record = records.get(event_id, {})
        if record.get("status") != "delivered":
            run.failures.append(f"{event_id} recorded as {record}")
        if len(received) > 1:
            attempts = int(record.get("attempts") or 0)
            if len(received) <= attempts:
                duplicates[f"the sender retried: {attempts} attempts recorded, an earlier one not seen answered"] += 1
            else:
                run.failures.append(f"{event_id} received {len(received)}x, sender recorded {attempts} attempt(s)")


# ---- the run ----------------------------------------------------------------------------------


def plan(jobs: int, mix: dict[str, int], seed: int) -> list[str]:
    total = sum(mix.values())
    kinds = [kind for kind, share in mix.items() for _ in range(round(jobs * share / total))]
    kinds = (kinds + ["good"] * jobs)[:jobs]
    random.Random(seed).shuffle(kinds)
    return kinds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def start_stack(folder: str, upload_window_s: int, log_path: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"HEADSHOT_LOCAL_DIR": folder}
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, __file__, "--serve-stack", "--upload-window", str(upload_window_s)],
                                   stdout=subprocess.PIPE, stderr=log, text=True, env=env)  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        raise SystemExit(f"the local stack did not start; see {log_path}")
    ready = json.loads(line)
    return process, json.loads(Path(ready["state_file"]).read_text())


def serve_stack(upload_window_s: int) -> int:
    """`headshot local up` with the upload window shortened (a local-only function setting)."""
    options = stack.StackOptions()
    options.function_overrides = options.function_overrides | {"UPLOAD_WINDOW_SECONDS": str(upload_window_s)}
    return stack.run_foreground(options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200, help="client threads, each holding one job")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"kind=share,… (default {DEFAULT_MIX})")
    parser.add_argument("--upload-window", type=int, default=DEFAULT_UPLOAD_WINDOW_S, metavar="SECONDS",
                        help="the functions' UPLOAD_WINDOW_SECONDS (never-uploaded jobs expire after it)")  # fmt: skip
    parser.add_argument("--job-timeout", type=float, default=1800, metavar="SECONDS",
                        help="how long the drill waits for one job's terminal webhook after its upload")  # fmt: skip
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--stack-log", type=Path, help="keep the stack's stderr here (default: a temporary file)")
    parser.add_argument("--serve-stack", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stack:
        return serve_stack(args.upload_window)
    mix = {kind: int(share) for kind, _, share in (item.partition("=") for item in args.mix.split(","))}
    unknown = set(mix) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds in --mix: {sorted(unknown)}")

    photos = photo_sets()
    kinds = plan(args.jobs, mix, args.seed)
    turn: Counter[str] = Counter()
    runs = []
    for index, kind in enumerate(kinds):
        choice = photos[kind][turn[kind] % len(photos[kind])]
        turn[kind] += 1
        runs.append(JobRun(index, kind, choice, user=f"load-user-{index}"))

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        log_path = args.stack_log or Path(folder) / "stack.log"
        started = time.monotonic()
        process, state = start_stack(folder, args.upload_window, log_path)
        start_s = time.monotonic() - started
        receiver = Receiver(str(state["webhook_secret"]))
        try:
            began = time.monotonic()
            progress = threading.Thread(target=_progress, args=(runs, receiver, began), daemon=True)
            progress.start()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(lambda run: run_job(state, receiver, run, args.job_timeout), runs))
            driven_s = time.monotonic() - began
            # Never-uploaded jobs: the sweeper ends them once the window and its grace have passed;
            # and every other job is given its whole --job-timeout before it counts as not finished.
            for run in runs:
                if run.job_id is None or run.latency_s is not None or run.failures:
                    continue
                if run.kind == "never_uploaded" and run.created_at is not None:
                    left = run.created_at + args.upload_window + 60 - time.monotonic()
                    delivery = receiver.first_of(run.job_id, max(left, 0))
                    if delivery is not None:
                        run.latency_s = delivery.arrived - run.created_at
                elif run.kind != "deleted" and run.uploaded_at is not None:
                    delivery = receiver.first_of(
                        run.job_id, max(run.uploaded_at + args.job_timeout - time.monotonic(), 0)
                    )
                    if delivery is not None:
                        run.latency_s = delivery.arrived - run.uploaded_at
            wall_s = time.monotonic() - began
            time.sleep(5)  # late duplicates and late writes after DELETE would show up now
            load_after = os.getloadavg()
            keys = all_keys(state)
            duplicates = check(state, receiver, runs, keys)
            table = census(state)
        finally:
            receiver.close()
            process.terminate()
            process.wait(timeout=60)
        stack_errors = [line.rstrip() for line in log_path.read_text(errors="replace").splitlines()
                        if line.startswith(("Traceback", "ERROR")) or "Error:" in line]  # fmt: skip

    report(args, runs, receiver, duplicates, start_s, driven_s, wall_s, load_before, load_after, stack_errors)
    lost = sum(n for outcome, n in table.items() if outcome.split("/")[0] not in demo.TERMINAL)
    records = sum(table.values())
    print(f"table: {records} job records: {dict(sorted(table.items()))}; not terminal (lost): {lost}")
    if records != len(runs):
        print(f"  {records} job records for {len(runs)} jobs asked for: a retried create made a second job or none")
    return 1 if any(run.failures for run in runs) or receiver.unreadable or lost or records != len(runs) else 0


def _progress(runs: list[JobRun], receiver: Receiver, began: float) -> None:
    """A line on stderr every 30 s, so a long run shows it is moving."""
    while True:
        time.sleep(30)
        created = sum(r.create_status == 201 for r in runs)
        uploaded = sum(r.uploaded_at is not None for r in runs)
        line = f"[{time.monotonic() - began:5.0f} s] created {created}, uploaded {uploaded}, "
        print(line + f"webhooks {len(receiver.deliveries)}, load {_load(os.getloadavg())}", file=sys.stderr, flush=True)


def report(
    args: argparse.Namespace, runs: list[JobRun], receiver: Receiver, duplicates: Counter[str], start_s: float,
    driven_s: float, wall_s: float, load_before: tuple[float, float, float], load_after: tuple[float, float, float],
    stack_errors: list[str],
) -> None:  # fmt: skip
    print(f"jobs {len(runs)}, concurrency {args.concurrency}, upload window {args.upload_window} s, "
          f"mix {args.mix}, seed {args.seed}")  # fmt: skip
    print(f"stack start {start_s:.1f} s; jobs driven in {driven_s:.1f} s; wall (incl. sweeper expiries) {wall_s:.1f} s")
    print(f"host load average (1/5/15 min): before {_load(load_before)}, after {_load(load_after)}; "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print("| kind | jobs | created | ended as expected | failed checks | upload -> webhook p50 | p95 | max |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        of_kind = [r for r in runs if r.kind == kind]
        if not of_kind:
            continue
        times = [r.latency_s for r in of_kind if r.latency_s is not None]
        timing = (f"{percentile(times, 0.5):.1f} s | {percentile(times, 0.95):.1f} s | {max(times):.1f} s"
                  if times else "– | – | –")  # fmt: skip
        if kind == "never_uploaded" and times:
            timing = f"(create -> job.expired) {timing}"
        created = sum(r.create_status == 201 for r in of_kind)
        ended = sum(bool(r.final) and r.final.get("status") == r.expected()[0] for r in of_kind)
        failed = sum(bool(r.failures) for r in of_kind)
        print(f"| {kind} | {len(of_kind)} | {created} | {ended} | {failed} | {timing} |")
    pipeline = [r.latency_s for r in runs if r.latency_s is not None and r.kind in ("good", "multi", "rejected")]
    if pipeline:
        print(f"\nupload -> terminal webhook, good + multi + rejected ({len(pipeline)} jobs): "
              f"p50 {percentile(pipeline, 0.5):.1f} s, p95 {percentile(pipeline, 0.95):.1f} s, "
              f"max {max(pipeline):.1f} s, mean {statistics.fmean(pipeline):.1f} s")  # fmt: skip
    retried = Counter(reason for r in runs for reason in r.retries)
    print(f"client retries: {dict(retried) or 'none'} (over {sum(bool(r.retries) for r in runs)} jobs)")
    before_delete = Counter(r.status_before_delete for r in runs if r.kind == "deleted")
    print(f"deleted jobs' status just before DELETE: {dict(before_delete)}")
    total = len(receiver.deliveries)
    unique = len({d.event_id for d in receiver.deliveries})
    print(f"webhooks: {total} deliveries, {unique} event ids, {total - unique} duplicate deliveries; "
          f"{sum(not d.verified for d in receiver.deliveries)} failed verification; "
          f"{len(receiver.unreadable)} unreadable")  # fmt: skip
    for cause, count in duplicates.items():
        print(f"  duplicates: {count} event(s): {cause}")
    terminal = sum(bool(r.final) and r.final.get("status") in demo.TERMINAL for r in runs)
    lost = sum(r.create_status == 201 and r.final.get("status") not in demo.TERMINAL for r in runs)
    print(f"terminal: {terminal}/{len(runs)}; lost (created, not terminal): {lost}")
    print(f"stack log: {len(stack_errors)} error lines" + (f", first: {stack_errors[0]}" if stack_errors else ""))
    failures = [(r, f) for r in runs for f in r.failures]
    print(f"\n{len(failures)} failed checks" + (":" if failures else ""))
    for run, failure in failures:
        print(f"  job {run.index} ({run.kind}, {run.job_id}): {failure}")
    for text in receiver.unreadable:
        print(f"  unreadable webhook body: {text!r}")


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
