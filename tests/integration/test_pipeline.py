"""The whole pipeline over real HTTP against the local stack (docs/ARCHITECTURE.md, "The local stack")."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import FACES_DIR
from tests.integration.conftest import Receiver, RunningStack
from tests.support import images

pytestmark = pytest.mark.integration


def portrait() -> bytes:
    return images.encode(images.astronaut())


def signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's check with the Standard Webhooks library, independent of headshot.webhooks."""
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_one_photo_job_completes_with_a_signed_webhook(local_stack: RunningStack, receiver: Receiver) -> None:
    # Given a one-photo job with a webhook / When the photo is uploaded with its presigned POST
    job = local_stack.create_job([portrait()], receiver.url)
    # Then the job completes, the signed webhook arrives, and the results download
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"})
    assert done["status"] == "completed", done
    assert done["results"] and all(r["fidelity"]["identity_match"] for r in done["results"])
    assert receiver.arrived.wait(30)
    headers, body = receiver.deliveries[-1]
    assert signature_ok(local_stack.state["webhook_secret"], headers, body)
    event = json.loads(body)
    assert event["type"] == "job.completed" and event["data"]["job_id"] == job["job_id"]
    import urllib.request

    with urllib.request.urlopen(done["results"][0]["url"]) as response:
        image = Image.open(response)
        assert image.size == (1024, 1024)
    # And the timeline shows every step, in order
    assert [t["status"] for t in done["timeline"]] == ["awaiting_upload", "validating", "queued", "completed"]


def test_presigned_post_carries_size_and_type_conditions(local_stack: RunningStack) -> None:
    status, job = local_stack.call("POST", "/v1/jobs", "alice", {})
    assert status == 201
    fields = job["uploads"][0]["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert any(c[0] == "content-length-range" for c in policy["conditions"] if isinstance(c, list))
    assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]
    assert {"key": fields["key"]} in policy["conditions"]


def test_all_rejected_job_reports_reasons_by_get_and_webhook(local_stack: RunningStack, receiver: Receiver) -> None:
    job = local_stack.create_job([images.animated("GIF"), images.random_bytes()], receiver.url)
    done = local_stack.wait(job["job_id"], {"rejected", "completed", "failed"})
    assert done["status"] == "rejected"
    assert [[r["code"] for r in p["reasons"]] for p in done["photos"]] == [["unsupported_format"], ["corrupt_image"]]
    assert receiver.arrived.wait(30)
    event = receiver.events()[-1]
    assert event["type"] == "job.rejected" and event["data"]["photos"][0]["reasons"][0]["code"] == "unsupported_format"
    assert local_stack.object_keys(job["job_id"]) == []  # nothing of rejected photos is kept


def test_near_duplicate_in_a_set_is_rejected_and_the_job_completes(local_stack: RunningStack) -> None:
    job = local_stack.create_job([portrait(), images.encode(images.astronaut(), "JPEG", quality=85)])
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"})
    assert done["status"] == "completed"
    assert [p["status"] for p in done["photos"]] == ["accepted", "rejected"]
    assert done["photos"][1]["reasons"][0]["code"] == "duplicate_photo"


@pytest.mark.photos
def test_several_photos_of_one_person_complete_together(local_stack: RunningStack, receiver: Receiver) -> None:
    if not FACES_DIR.is_dir():
        pytest.skip("shared real-photo test set absent")
    photos = [(FACES_DIR / name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    job = local_stack.create_job(photos, receiver.url)
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"}, timeout_s=120)
    assert done["status"] == "completed"
    assert [p["status"] for p in done["photos"]] == ["accepted"] * 3
    # One output per style x variant (1 x 1 here), each passed its fidelity check against the person
    assert len(done["results"]) == 1 and all(r["fidelity"]["identity_match"] for r in done["results"])
    assert receiver.arrived.wait(30) and receiver.events()[-1]["type"] == "job.completed"


@pytest.mark.photos
def test_a_different_person_in_the_set_is_rejected(local_stack: RunningStack) -> None:
    if not FACES_DIR.is_dir():
        pytest.skip("shared real-photo test set absent")
    photos = [(FACES_DIR / name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "biden.jpg")]
    job = local_stack.create_job(photos)
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"}, timeout_s=120)
    assert done["status"] == "completed"
    codes = [[r["code"] for r in p["reasons"]] for p in done["photos"]]
    assert codes == [[], [], ["different_person"]]


def test_duplicated_s3_event_runs_exactly_one_inference(local_stack: RunningStack) -> None:
    # Given a completed one-photo job
    job = local_stack.create_job([portrait()])
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"})
    assert done["status"] == "completed"
    # When S3's event for that upload is delivered again
    key = f"uploads/{job['job_id']}/{job['uploads'][0]['photo_id']}"
    event = {"Records": [{"eventName": "ObjectCreated:Post", "s3": {"bucket": {"name": local_stack.state["bucket"]},
                                                                    "object": {"key": key, "size": 1}}}]}  # fmt: skip
    local_stack.sqs.send_message(
        QueueUrl=local_stack.state["queues"]["UploadEventsQueue"], MessageBody=json.dumps(event)
    )
    time.sleep(3)
    # Then nothing moves: still round 1, one request object, one result set
    again = local_stack.call("GET", f"/v1/jobs/{job['job_id']}")[1]
    assert again["status"] == "completed" and again["round"] == 1
    assert [k for k in local_stack.object_keys(job["job_id"]) if k.startswith("requests/")] == [
        f"requests/{job['job_id']}/r1.json"
    ]


def test_webhook_that_fails_then_recovers_gets_the_same_event(local_stack: RunningStack) -> None:
    flaky = Receiver([500, 500])
    try:
        job = local_stack.create_job([images.animated("GIF")], flaky.url)
        local_stack.wait(job["job_id"], {"rejected"})
        assert flaky.arrived.wait(60)
        ids = {e["id"] for e in flaky.events()}
        assert len(flaky.deliveries) == 3 and len(ids) == 1
        assert all(signature_ok(local_stack.state["webhook_secret"], h, b) for h, b in flaky.deliveries)
    finally:
        flaky.close()


def test_webhook_that_never_recovers_is_dead_lettered_and_recorded(local_stack: RunningStack) -> None:
    broken = Receiver([500] * 50)
    try:
        job = local_stack.create_job([images.animated("GIF")], broken.url)
        local_stack.wait(job["job_id"], {"rejected"})
        deadline = time.monotonic() + 90
        deliveries: list[dict[str, object]] = []
        while time.monotonic() < deadline and not deliveries:
            deliveries = local_stack.call("GET", f"/v1/jobs/{job['job_id']}")[1]["webhook_deliveries"]
            time.sleep(0.5)
        assert deliveries and deliveries[0]["status"] == "failed" and deliveries[0]["attempts"] == 3
        assert len(broken.deliveries) == 3  # WebhookMaxAttempts=3 for this stack
        dlq = local_stack.state["queues"]["WebhookDLQ"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            attributes = local_stack.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
            if int(attributes["ApproximateNumberOfMessages"]) >= 1:
                break
            time.sleep(0.5)
        assert int(attributes["ApproximateNumberOfMessages"]) >= 1
    finally:
        broken.close()


def test_delete_leaves_no_object_of_the_job(local_stack: RunningStack) -> None:
    job = local_stack.create_job([portrait()])
    local_stack.wait(job["job_id"], {"completed", "failed"})
    assert local_stack.object_keys(job["job_id"])  # photos, request, results exist
    output_keys = [k for k in local_stack.object_keys() if k.startswith(("async-output/", "async-failure/"))]
    status, _ = local_stack.call("DELETE", f"/v1/jobs/{job['job_id']}")
    assert status == 204
    assert local_stack.object_keys(job["job_id"]) == []
    remaining_outputs = [k for k in local_stack.object_keys() if k.startswith(("async-output/", "async-failure/"))]
    assert len(remaining_outputs) < len(output_keys)  # this job's SageMaker output object went too
    assert local_stack.call("GET", f"/v1/jobs/{job['job_id']}")[1]["status"] == "deleted"


def test_a_users_erasure_leaves_nothing_and_tells_their_endpoint(local_stack: RunningStack, receiver: Receiver) -> None:
    # Given erin's job completed (its webhook heard job.completed)
    job = local_stack.create_job([portrait()], receiver.url, user="erin")
    local_stack.wait(job["job_id"], {"completed", "failed"}, user="erin")
    assert local_stack.object_keys(job["job_id"]) and receiver.arrived.wait(30)
    receiver.arrived.clear()
    # When erin asks for her erasure
    status, answer = local_stack.call("DELETE", "/v1/me", "erin")
    # Then nothing of hers is left, the job answers 404, and her endpoint gets a verified user.erased
    assert status == 200 and answer["erased_jobs"] == 1
    assert local_stack.object_keys(job["job_id"]) == []
    assert local_stack.call("GET", f"/v1/jobs/{job['job_id']}", "erin")[0] == 404
    deadline = time.monotonic() + 30
    while not any(e["type"] == "user.erased" for e in receiver.events()) and time.monotonic() < deadline:
        receiver.arrived.wait(1)
    headers, body = next((h, b) for h, b in receiver.deliveries if json.loads(b)["type"] == "user.erased")
    assert signature_ok(local_stack.state["webhook_secret"], headers, body)
    event = json.loads(body)
    assert event["id"] == answer["webhook_event_ids"][0] and event["data"]["job_ids"] == [job["job_id"]]


def test_retention_clock_removes_photos_results_and_then_the_record(local_stack: RunningStack) -> None:
    from infra.local.stack import apply_retention

    job = local_stack.create_job([portrait()])
    local_stack.wait(job["job_id"], {"completed", "failed"})
    assert local_stack.object_keys(job["job_id"])
    now = datetime.now(UTC)
    # Within the window nothing of the job goes
    early = apply_retention(local_stack.state, now + timedelta(hours=1))
    assert not [k for k in early["objects"] if job["job_id"] in k]
    # After RetentionDays (7 by default) photos, requests and results are gone, and the record after its TTL
    late = apply_retention(local_stack.state, now + timedelta(days=8))
    assert local_stack.object_keys(job["job_id"]) == []
    assert job["job_id"] in late["records"]
    assert local_stack.call("GET", f"/v1/jobs/{job['job_id']}")[0] == 404


def test_another_users_job_is_404_and_no_token_is_401(local_stack: RunningStack) -> None:
    status, job = local_stack.call("POST", "/v1/jobs", "alice", {})
    assert status == 201
    assert local_stack.call("GET", f"/v1/jobs/{job['job_id']}", "mallory")[0] == 404
    assert local_stack.call("GET", f"/v1/jobs/{job['job_id']}", None)[0] == 401


def test_headshot_demo_runs_a_job_end_to_end(local_stack: RunningStack, tmp_path: Path) -> None:
    # Given the running stack / When `headshot demo` runs with its default, package-shipped photo
    import os
    import subprocess
    import sys

    env = os.environ | {"HEADSHOT_LOCAL_DIR": str(local_stack.state_file.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "demo", "--out", str(tmp_path), "--style", "studio_white"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # Then it completes, verifies the webhook, and leaves headshots, a manifest and a contact sheet
    assert done.returncode == 0, done.stdout + done.stderr
    assert "signature verified" in done.stdout
    (job_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((job_dir / "manifest.json").read_text())
    assert manifest["job"]["status"] == "completed" and manifest["webhook"]["signature_verified"]
    assert manifest["files"] and all((job_dir / name).is_file() for name in manifest["files"])
    assert Image.open(job_dir / "contact-sheet.png").size[0] >= 256
