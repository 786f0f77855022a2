"""DELETE racing the photo intake: whatever the interleaving, nothing personal outlives the DELETE."""

from __future__ import annotations

from typing import Any

from headshot.jobs import JobStatus
from headshot.usecases.photo_intake import UploadOutcome
from tests.fakes import FakeCheck, FakeChecker, World
from tests.unit.usecases.conftest import create


def upload(world: World, job_id: str, photo_id: str, body: bytes) -> None:
    world.storage.put(f"uploads/{job_id}/{photo_id}", body)


def assert_nothing_personal_left(world: World, job_id: str) -> None:
    stored = world.store.get(job_id)
    assert stored is not None and stored.status is JobStatus.DELETED
    assert all(p.embedding is None and p.chip_signature is None and p.skin_lab is None and p.key is None
               for p in stored.photos)  # fmt: skip
    assert world.storage.listing(f"*{job_id}*") == []


class DeletingChecker(FakeChecker):
    """The owner's DELETE lands while the validator is checking the photo."""

    def __init__(self, world: World, job_id: str) -> None:
        super().__init__()
        self.world, self.job_id = world, job_id

    def check_bytes(self, data: bytes, file: str, *, keep_normalised: bool = False) -> FakeCheck:
        self.world.plane.delete_job("user-alice", self.job_id)
        return super().check_bytes(data, file, keep_normalised=keep_normalised)


def test_a_delete_during_the_check_leaves_no_normalised_copy(world: World) -> None:
    # Given a one-photo job whose owner deletes it while its upload is being checked
    job = create(world)
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"person:0:shot:0")
    world.checker = DeletingChecker(world, job.job_id)
    # When the intake finishes
    result = world.plane.record_upload(job.job_id, photo)
    # Then the upload is ignored, and neither the copy nor the evidence survives
    assert result.outcome is UploadOutcome.IGNORED
    assert_nothing_personal_left(world, job.job_id)
    assert world.inference.calls == []


def test_a_delete_before_the_verdict_is_written_keeps_no_evidence_on_the_record(world: World) -> None:
    # Given a two-photo job whose owner deletes it just before the first verdict is written
    job = create(world, photo_count=2)
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"person:0:shot:0")

    def owner_deletes(store: Any) -> None:
        world.plane.delete_job("user-alice", job.job_id)

    world.store.interfere = owner_deletes
    # When the intake writes its verdict
    result = world.plane.record_upload(job.job_id, photo)
    # Then it finds the job deleted and writes no embedding, chip signature, colour or key
    assert result.outcome is UploadOutcome.IGNORED
    assert_nothing_personal_left(world, job.job_id)


def test_an_intake_finishing_while_delete_runs_is_erased_by_the_delete(world: World) -> None:
    # Given a job whose DELETE has listed the objects but not yet marked the record
    job = create(world, photo_count=2)
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"person:0:shot:0")

    def intake_finishes(store: Any) -> None:
        # (the validator had read the upload before the DELETE erased it)
        upload(world, job.job_id, photo, b"person:0:shot:0")
        world.plane.record_upload(job.job_id, photo)

    world.store.interfere = intake_finishes
    # When the DELETE completes
    world.plane.delete_job("user-alice", job.job_id)
    # Then the copy the intake kept meanwhile is gone as well
    assert_nothing_personal_left(world, job.job_id)


def test_a_redelivered_upload_event_erases_a_copy_left_after_delete(world: World) -> None:
    # Given a deleted job where a crashed intake left a normalised copy behind
    job = create(world)
    photo = job.photos[0].photo_id
    world.plane.delete_job("user-alice", job.job_id)
    world.storage.put(f"photos/{job.job_id}/{photo}.jpg", b"face")
    upload(world, job.job_id, photo, b"person:0:shot:0")
    # When the upload event is redelivered
    assert world.plane.record_upload(job.job_id, photo).outcome is UploadOutcome.IGNORED
    # Then the copy goes with the upload
    assert_nothing_personal_left(world, job.job_id)


def test_a_delete_just_before_inference_starts_leaves_no_request_manifest(world: World) -> None:
    # Given a one-photo job whose owner deletes it between its settlement and its invocation
    job = create(world)
    photo = job.photos[0].photo_id
    upload(world, job.job_id, photo, b"person:0:shot:0")
    put = world.storage.put

    def put_after_delete(key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        if key.startswith("requests/"):
            world.plane.delete_job("user-alice", job.job_id)
        put(key, body, content_type)

    world.storage.put = put_after_delete  # type: ignore[method-assign]
    # When the intake starts inference
    world.plane.record_upload(job.job_id, photo)
    # Then the request manifest (photo URIs, the reference embedding) does not outlive the DELETE
    assert_nothing_personal_left(world, job.job_id)
