"""The result function: SageMaker notifications (SNS envelopes in SQS) move queued jobs on, once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from headshot.jobs import Job, JobStatus
from headshot.usecases.create_job import NewJob
from headshot.wiring import ControlPlane
from tests.fakes import FakeLambdaContext
from tests.unit.conftest import BUCKET, EVENTS, sqs_event


def queued_job(world: dict[str, Any], webhook: str | None = "https://hooks.example.com/h") -> Job:
    plane: ControlPlane = world["plane_for"]("ApiFunction")
    job_id = plane.create_job("user-alice", NewJob(webhook_url=webhook))["job_id"]
    job = world["store"].get(job_id)
    job.transition(JobStatus.VALIDATING, plane.clock())
    job.start_round(plane.clock())
    job.inference_invoked = True
    world["store"].save(job)
    stored: Job = world["store"].get(job_id)
    return stored


def notification(kind: str, inference_id: str) -> str:
    return (EVENTS / f"sns_inference_{kind}.json").read_text().replace("INFERENCE_ID", inference_id)


def manifest(job: Job, kept: list[bool]) -> bytes:
    images = [
        {"image_id": f"img{i}", "key": f"results/{job.job_id}/r{job.round}/img{i}.png", "style": "studio_gray",
         "seed": 7 + i, "fidelity": {"identity_distance": 0.31, "identity_match": ok}, "kept": ok}
        for i, ok in enumerate(kept)
    ]  # fmt: skip
    return json.dumps({"job_id": job.job_id, "round": job.round, "backend": "studio", "images": images}).encode()


def webhook_messages(world: dict[str, Any]) -> list[dict[str, Any]]:
    got = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


@pytest.fixture
def app(control_world: dict[str, Any]) -> Any:
    return control_world["load"]("OnResultFunction", "on_result.app")


def test_success_completes_the_job_once(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given a queued job and its result manifest at the output location
    job = queued_job(control_world)
    control_world["s3"].put_object(Bucket=BUCKET, Key="async-output/7f1e2d3c.out", Body=manifest(job, [True, False]))
    body = notification("success", job.inference_id or "")
    # When the success notification arrives twice
    assert app.lambda_handler(sqs_event(queue="InferenceResultsQueue", bodies=[body, body]), lambda_context) == {
        "batchItemFailures": []
    }
    # Then the job is completed with only the kept image, and one job.completed webhook is queued
    stored = control_world["store"].get(job.job_id)
    assert stored.status is JobStatus.COMPLETED and [r.image_id for r in stored.results] == ["img0"]
    assert stored.output_location == f"s3://{BUCKET}/async-output/7f1e2d3c.out"
    messages = webhook_messages(control_world)
    assert [m["type"] for m in messages] == ["job.completed"]
    # And the public view carries a short-lived URL per result
    view = control_world["plane_for"]("ApiFunction").get_job("user-alice", job.job_id)
    assert view["results"][0]["url"].startswith("https://") and view["results"][0]["fidelity"]["identity_match"]


def test_failure_notification_fails_the_job_with_the_containers_code(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    job = queued_job(control_world)
    error = {"error": {"code": "insufficient_fidelity", "message": "no output looked enough like the person"}}
    control_world["s3"].put_object(Bucket=BUCKET, Key="async-failure/7f1e2d3c-error.out", Body=json.dumps(error))
    app.lambda_handler(
        sqs_event(queue="InferenceResultsQueue", bodies=[notification("failure", job.inference_id or "")]),
        lambda_context,
    )
    stored = control_world["store"].get(job.job_id)
    assert stored.status is JobStatus.FAILED
    assert (stored.error.code, stored.error.message) == ("insufficient_fidelity", error["error"]["message"])
    assert [m["type"] for m in webhook_messages(control_world)] == ["job.failed"]


def test_failure_without_a_readable_body_gets_a_generic_code(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    job = queued_job(control_world)
    app.lambda_handler(
        sqs_event(queue="InferenceResultsQueue", bodies=[notification("failure", job.inference_id or "")]),
        lambda_context,
    )
    stored = control_world["store"].get(job.job_id)
    assert stored.status is JobStatus.FAILED and stored.error.code == "inference_failed"
    assert "ClientError" not in stored.error.message  # SageMaker's operator text is not shown to clients


def test_result_with_nothing_kept_fails_the_job(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    job = queued_job(control_world)
    control_world["s3"].put_object(Bucket=BUCKET, Key="async-output/7f1e2d3c.out", Body=manifest(job, [False]))
    app.lambda_handler(
        sqs_event(queue="InferenceResultsQueue", bodies=[notification("success", job.inference_id or "")]),
        lambda_context,
    )
    assert control_world["store"].get(job.job_id).error.code == "no_acceptable_output"


def test_out_of_order_and_unknown_notifications_change_nothing(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given a job already completed in round 1 and now queued in round 2
    job = queued_job(control_world)
    control_world["s3"].put_object(Bucket=BUCKET, Key="async-output/7f1e2d3c.out", Body=manifest(job, [True]))
    app.lambda_handler(
        sqs_event(queue="InferenceResultsQueue", bodies=[notification("success", f"{job.job_id}-r1")]),
        lambda_context,
    )
    plane = control_world["plane_for"]("OnResultFunction")
    current = control_world["store"].get(job.job_id)
    current.start_round(plane.clock())
    control_world["store"].save(current)
    version = control_world["store"].get(job.job_id).version
    # When a late failure for round 1, an unknown id, garbage and a non-SageMaker message arrive
    bodies = [
        notification("failure", f"{job.job_id}-r1"),
        notification("success", "job_nobody-r1"),
        notification("success", "not-an-inference-id"),
        "not json at all",
        json.dumps({"hello": "world"}),
    ]
    assert app.lambda_handler(sqs_event(bodies), lambda_context) == {"batchItemFailures": []}
    # Then the round-2 job is untouched
    after = control_world["store"].get(job.job_id)
    assert (after.status, after.round, after.version) == (JobStatus.QUEUED, 2, version)


def test_raw_message_delivery_is_understood_too(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    job = queued_job(control_world, webhook=None)
    control_world["s3"].put_object(Bucket=BUCKET, Key="async-output/7f1e2d3c.out", Body=manifest(job, [True]))
    raw = json.loads(notification("success", job.inference_id or ""))["Message"]
    app.lambda_handler(sqs_event(queue="InferenceResultsQueue", bodies=[raw]), lambda_context)
    assert control_world["store"].get(job.job_id).status is JobStatus.COMPLETED
    assert webhook_messages(control_world) == []  # no webhook_url, no webhook


def test_result_pointing_outside_the_bucket_is_not_trusted(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    job = queued_job(control_world)
    body = notification("success", job.inference_id or "").replace(f"s3://{BUCKET}/async-output", "s3://elsewhere/x")
    app.lambda_handler(sqs_event(queue="InferenceResultsQueue", bodies=[body]), lambda_context)
    assert control_world["store"].get(job.job_id).error.code == "invalid_result"


def test_results_that_land_after_delete_are_erased(
    app: Any, control_world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given a queued job that its owner deletes while inference is still running
    job = queued_job(control_world)
    control_world["plane_for"]("ApiFunction").delete_job("user-alice", job.job_id)
    # When the container then writes its results and SageMaker its output, and the notification arrives
    result_key = f"results/{job.job_id}/r1/img0.png"
    control_world["s3"].put_object(Bucket=BUCKET, Key=result_key, Body=b"late")
    control_world["s3"].put_object(Bucket=BUCKET, Key="async-output/7f1e2d3c.out", Body=manifest(job, [True]))
    assert app.lambda_handler(
        sqs_event(queue="InferenceResultsQueue", bodies=[notification("success", job.inference_id or "")]),
        lambda_context,
    ) == {"batchItemFailures": []}
    # Then nothing of the deleted job is left, and it stays deleted
    left = [o["Key"] for o in control_world["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert left == []
    assert control_world["store"].get(job.job_id).status is JobStatus.DELETED
