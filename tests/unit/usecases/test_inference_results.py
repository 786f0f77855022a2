"""RecordResult: a queued round completes or fails once; old rounds, duplicates and strangers change nothing."""

from __future__ import annotations

import json

from headshot.jobs import Job, JobStatus
from headshot.usecases.inference_results import ResultOutcome, parse_inference_id
from headshot.usecases.ports import InferenceNotification
from headshot.usecases.regenerate_job import Regeneration
from tests.fakes import BUCKET, World
from tests.unit.usecases.conftest import queued

OUTPUT = f"s3://{BUCKET}/async-output/7f1e2d3c.out"
FAILURE = f"s3://{BUCKET}/async-failure/7f1e2d3c-error.out"


def success(job: Job, output: str = OUTPUT, round_number: int | None = None) -> InferenceNotification:
    return InferenceNotification(f"{job.job_id}-r{round_number or job.round}", True, output, None, None)


def failure(job: Job, round_number: int | None = None) -> InferenceNotification:
    inference_id = f"{job.job_id}-r{round_number or job.round}"
    return InferenceNotification(inference_id, False, None, FAILURE, "ClientError: something internal")


def manifest(job: Job, kept: list[bool], key_form: str = "{key}") -> bytes:
    images = [
        {"image_id": f"img{i}", "key": key_form.format(key=f"results/{job.job_id}/r{job.round}/img{i}.png"),
         "style": "studio_gray", "seed": 7 + i, "fidelity": {"identity_match": ok}, "kept": ok}
        for i, ok in enumerate(kept)
    ]  # fmt: skip
    return json.dumps({"job_id": job.job_id, "round": job.round, "images": images}).encode()


def test_success_completes_the_job_once_with_the_kept_images(world: World) -> None:
    # Given a queued job and its result manifest (keys as s3:// URIs) at the output location
    job = queued(world)
    world.storage.put("async-output/7f1e2d3c.out", manifest(job, [True, False], f"s3://{BUCKET}/{{key}}"))
    # When the success notification arrives twice
    first = world.plane.record_result(success(job))
    second = world.plane.record_result(success(job))
    # Then the job is completed with the kept image only, and one job.completed is queued
    assert (first[0], second[0]) == (ResultOutcome.COMPLETED, ResultOutcome.IGNORED)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    assert [(r.image_id, r.key) for r in stored.results] == [("img0", f"results/{job.job_id}/r1/img0.png")]
    assert stored.output_location == OUTPUT and OUTPUT in stored.inference_objects
    assert world.webhooks.types == ["job.completed"]


def test_the_containers_failure_code_reaches_the_job(world: World) -> None:
    job = queued(world)
    error = {"error": {"code": "insufficient_fidelity", "message": "no output looked enough like the person"}}
    world.storage.put("async-failure/7f1e2d3c-error.out", json.dumps(error).encode())
    assert world.plane.record_result(failure(job))[0] is ResultOutcome.FAILED
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.error is not None
    assert (stored.error.code, stored.error.message) == ("insufficient_fidelity", error["error"]["message"])
    assert world.webhooks.types == ["job.failed"]


def test_a_failure_without_a_readable_body_gets_a_generic_code(world: World) -> None:
    job = queued(world)
    world.plane.record_result(failure(job))
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.error is not None and stored.error.code == "inference_failed"
    assert "ClientError" not in stored.error.message  # SageMaker's operator text is not shown to clients


def test_nothing_kept_fails_the_job(world: World) -> None:
    job = queued(world)
    world.storage.put("async-output/7f1e2d3c.out", manifest(job, [False]))
    world.plane.record_result(success(job))
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.error is not None and stored.error.code == "no_acceptable_output"


def test_results_outside_the_bucket_are_not_trusted(world: World) -> None:
    # Given a notification pointing elsewhere, and a manifest whose image lies in another bucket
    other = queued(world)
    world.plane.record_result(success(other, output="s3://elsewhere/x/7f1e2d3c.out"))
    job = queued(world)
    world.storage.put("async-output/7f1e2d3c.out", manifest(job, [True], "s3://elsewhere/{key}"))
    world.plane.record_result(success(job))
    # Then both fail as unreadable
    for job_id in (other.job_id, job.job_id):
        stored = world.store.get(job_id)
        assert stored is not None and stored.error is not None and stored.error.code == "invalid_result"


def test_old_rounds_unknown_ids_and_deleted_jobs(world: World) -> None:
    # Given a job in its second round
    job = queued(world)
    job.transition(JobStatus.COMPLETED, world.clock())
    job.start_round(world.clock())
    world.store.put(job)
    version = job.version
    # When a late round-1 failure and notifications for nobody arrive
    for notification in (failure(job, round_number=1), InferenceNotification("job_nobody-r1", True, OUTPUT, None, None),
                         InferenceNotification("not-an-inference-id", True, OUTPUT, None, None)):  # fmt: skip
        assert world.plane.record_result(notification)[0] is ResultOutcome.IGNORED
    # Then the round-2 job is untouched
    stored = world.store.get(job.job_id)
    assert stored is not None and (stored.status, stored.round, stored.version) == (JobStatus.QUEUED, 2, version)


def test_results_that_land_after_delete_are_erased(world: World) -> None:
    job = queued(world)
    world.plane.delete_job("user-alice", job.job_id)
    world.storage.put(f"results/{job.job_id}/r1/img0.png", b"late")
    world.storage.put("async-output/7f1e2d3c.out", manifest(job, [True]))
    assert world.plane.record_result(success(job))[0] is ResultOutcome.IGNORED
    assert world.storage.listing() == []
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.DELETED and world.webhooks.sent == []


def test_inference_ids_name_job_and_round() -> None:
    assert parse_inference_id("job_ab12-r3") == ("job_ab12", 3)
    assert parse_inference_id("job-with-r-in-it-r12") == ("job-with-r-in-it", 12)
    assert parse_inference_id("job_ab12") is None and parse_inference_id("-r1") is None
    assert parse_inference_id("job_ab12-rx") is None


def rounds_manifest(job: Job, sources: list[int | None]) -> bytes:
    """The container's manifest for the job's current round: one kept image per source photo index."""
    images = [
        {"image_id": f"studio_gray-{i + 1:02d}",
         "key": f"results/{job.job_id}/r{job.round}/studio_gray-{i + 1:02d}.png",
         "style": "studio_gray", "seed": 7 + i, "variant": i, "source_photo": source,
         "fidelity": {"identity_distance": 0.3}, "kept": True}
        for i, source in enumerate(sources)
    ]  # fmt: skip
    return json.dumps({"images": images}).encode()


def complete_round(world: World, job: Job, sources: list[int | None]) -> Job:
    world.storage.put("async-output/7f1e2d3c.out", rounds_manifest(job, sources))
    world.plane.record_result(success(job))
    stored = world.store.get(job.job_id)
    assert stored is not None
    return stored


def test_a_later_round_keeps_the_earlier_rounds_results_visible(world: World) -> None:
    # Given a two-photo job whose first round made one image from each photo
    job = complete_round(world, queued(world, photos=2), [0, 1])
    first, second = (p.photo_id for p in job.accepted_photos)
    # When it is regenerated and the second round makes one image from the second photo
    world.plane.regenerate("user-alice", job.job_id, Regeneration())
    job = complete_round(world, world.store.get(job.job_id) or job, [1])
    # Then the job body shows all three, each with its round, style, variant, source photo and own URL
    results = world.plane.get_job("user-alice", job.job_id)["results"]
    assert [(r["round"], r["image_id"], r["variant"], r["source_photo_id"]) for r in results] == [
        (1, "studio_gray-01", 0, first), (1, "studio_gray-02", 1, second), (2, "studio_gray-01", 0, second),
    ]  # fmt: skip
    assert len({r["url"] for r in results}) == 3 and all(r["style"] == "studio_gray" for r in results)


def test_a_failed_later_round_leaves_the_earlier_results_in_place(world: World) -> None:
    job = complete_round(world, queued(world), [0])
    world.plane.regenerate("user-alice", job.job_id, Regeneration())
    job = world.store.get(job.job_id) or job
    world.plane.record_result(failure(job))
    body = world.plane.get_job("user-alice", job.job_id)
    assert body["status"] == "failed" and [r["round"] for r in body["results"]] == [1]


def test_an_image_made_from_every_photo_names_no_source(world: World) -> None:
    job = complete_round(world, queued(world, photos=2), [None])
    assert [r.source_photo_id for r in job.results] == [None]
