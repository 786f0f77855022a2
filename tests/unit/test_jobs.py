"""Job state machine and its storage: forward-only transitions, conditional writes, round trips."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from headshot.job_store import ConcurrentUpdate, DynamoJobStore, update
from headshot.jobs import (
    TRANSITIONS,
    InvalidTransition,
    Job,
    JobStatus,
    PhotoStatus,
    ResultImage,
    utcnow,
)
from headshot.reasons import Finding, Reason


def new_job(owner: str = "user-1", photos: int = 2) -> Job:
    return Job.create(
        owner_sub=owner,
        photo_count=photos,
        styles=["studio_gray"],
        variants=2,
        now=utcnow(),
        retention=timedelta(days=7),
        upload_window=timedelta(minutes=15),
        webhook_url="https://hooks.example.com/h",
    )


def test_terminal_states_only_lead_to_deleted_or_a_new_round() -> None:
    assert TRANSITIONS[JobStatus.DELETED] == frozenset()
    assert TRANSITIONS[JobStatus.REJECTED] == {JobStatus.DELETED}
    assert TRANSITIONS[JobStatus.EXPIRED] == {JobStatus.DELETED}
    for status, targets in TRANSITIONS.items():
        assert JobStatus.AWAITING_UPLOAD not in targets, status


def test_backward_transition_is_refused() -> None:
    job = new_job()
    job.transition(JobStatus.VALIDATING, utcnow())
    job.start_round(utcnow())
    with pytest.raises(InvalidTransition):
        job.transition(JobStatus.VALIDATING, utcnow())
    assert job.status is JobStatus.QUEUED and job.round == 1 and job.inference_id == f"{job.job_id}-r1"


def test_regeneration_is_a_new_round() -> None:
    job = new_job()
    job.transition(JobStatus.VALIDATING, utcnow())
    job.start_round(utcnow())
    job.transition(JobStatus.COMPLETED, utcnow())
    job.start_round(utcnow())
    assert (job.status, job.round, job.inference_id) == (JobStatus.QUEUED, 2, f"{job.job_id}-r2")
    assert [s for s, _ in job.history] == ["awaiting_upload", "validating", "queued", "completed", "queued"]


def test_delete_keeps_no_personal_data() -> None:
    job = new_job()
    job.photos[0].embedding = np.ones(128, np.float32)
    job.photos[0].eye_openness = 0.3
    job.photos[0].key = "photos/x"
    job.results.append(ResultImage("img", "studio_gray", "results/x.png", 1, {}))
    job.erase_personal_data(utcnow())
    assert job.status is JobStatus.DELETED
    assert job.photos[0].embedding is None and job.photos[0].key is None
    assert job.photos[0].eye_openness is None
    assert not job.results and job.webhook_url is None and job.client_reference is None


def test_store_round_trips_a_job(job_store: DynamoJobStore) -> None:
    # Given a job with a settled photo carrying evidence and a result
    job = new_job()
    embedding = np.linspace(-0.2, 0.2, 128).astype(np.float32)
    job.photos[0].embedding = embedding
    job.photos[0].chip_signature = np.full(1024, 1 / 32, np.float32)
    job.photos[0].skin_lab = (60.0, 12.0, 16.0)
    job.photos[0].eye_openness = 0.27
    job.photos[0].settle([], [Finding.warning(Reason.BLURRY)])
    job.photos[1].settle([Finding.rejection(Reason.NO_FACE)], [])
    key = f"results/{job.job_id}/r2/r2-studio_gray-01.png"
    kept = ResultImage("r2-studio_gray-01", "studio_gray", key, 5, {"identity_distance": 0.3},
                       round=2, variant=1, source_photo_id=job.photos[0].photo_id)  # fmt: skip
    job.results = [kept]
    job_store.create(job)
    # When read back
    loaded = job_store.get(job.job_id)
    # Then everything survives, embeddings exactly, the chip signature to float16 precision
    assert loaded is not None
    assert loaded.status is JobStatus.AWAITING_UPLOAD and loaded.version == 1
    assert loaded.photos[0].status is PhotoStatus.ACCEPTED and loaded.photos[1].status is PhotoStatus.REJECTED
    assert loaded.photos[0].embedding is not None and np.array_equal(loaded.photos[0].embedding, embedding)
    assert loaded.photos[0].chip_signature is not None
    assert np.allclose(loaded.photos[0].chip_signature, 1 / 32, atol=1e-4)
    assert loaded.photos[1].reasons[0].code is Reason.NO_FACE
    assert loaded.results == [kept]
    assert loaded.photos[0].eye_openness == 0.27
    assert loaded.webhook_url == job.webhook_url and loaded.history == job.history


def test_creating_the_same_job_twice_fails(job_store: DynamoJobStore) -> None:
    job = new_job()
    job_store.create(job)
    job.version = None
    with pytest.raises(ConcurrentUpdate):
        job_store.create(job)


def test_stale_write_is_refused(job_store: DynamoJobStore) -> None:
    # Given two readers of the same job
    job = new_job()
    job_store.create(job)
    first, second = job_store.get(job.job_id), job_store.get(job.job_id)
    assert first is not None and second is not None
    # When the first writes a transition
    first.transition(JobStatus.VALIDATING, utcnow())
    job_store.save(first)
    # Then the second's write, based on the old version, is refused
    second.transition(JobStatus.EXPIRED, utcnow())
    with pytest.raises(ConcurrentUpdate):
        job_store.save(second)
    stored = job_store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.VALIDATING


def test_update_retries_after_a_concurrent_write(job_store: DynamoJobStore) -> None:
    job = new_job()
    job_store.create(job)
    interfered = False

    def settle_first_photo(current: Job) -> str:
        nonlocal interfered
        if not interfered:  # another writer sneaks in between our read and our write
            interfered = True
            other = job_store.get(job.job_id)
            assert other is not None
            other.transition(JobStatus.VALIDATING, utcnow())
            job_store.save(other)
        current.photos[0].settle([], [])
        return current.status.value

    outcome = update(job_store, job.job_id, settle_first_photo)
    assert outcome is not None
    saved, status_seen = outcome
    assert status_seen == "validating"  # the retry saw the other writer's change
    assert saved.photos[0].status is PhotoStatus.ACCEPTED and saved.status is JobStatus.VALIDATING


def test_active_jobs_are_counted_per_owner(job_store: DynamoJobStore) -> None:
    for owner in ("a", "a", "b"):
        job_store.create(new_job(owner))
    done = new_job("a")
    done.transition(JobStatus.EXPIRED, utcnow())
    job_store.create(done)
    assert job_store.count_active("a") == 2 and job_store.count_active("b") == 1


def test_stuck_jobs_are_found_by_status_and_age(job_store: DynamoJobStore) -> None:
    old = new_job()
    old.updated_at = utcnow() - timedelta(hours=2)
    job_store.create(old)
    job_store.create(new_job())
    found = list(job_store.stuck(JobStatus.AWAITING_UPLOAD, utcnow() - timedelta(hours=1)))
    assert [j.job_id for j in found] == [old.job_id]
