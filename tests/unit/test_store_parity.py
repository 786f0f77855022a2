"""The in-memory job store keeps the DynamoDB store's contract, so use-case tests on it mean something:
the same scenarios run on both (moto for DynamoDB)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from headshot.jobs import Job, JobStatus, iso, utcnow
from headshot.usecases.ports import ConcurrentUpdate, JobStore, OwnerPosition, update
from tests.fakes import InMemoryJobStore


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> JobStore:
    if request.param == "memory":
        return InMemoryJobStore()
    dynamo: JobStore = request.getfixturevalue("job_store")
    return dynamo


def new_job(owner: str = "user-1") -> Job:
    return Job.create(owner_sub=owner, photo_count=1, styles=["studio_gray"], variants=1, now=utcnow(),
                      retention=timedelta(days=7), upload_window=timedelta(minutes=15))  # fmt: skip


def test_a_stale_write_is_refused_and_a_second_create_too(store: JobStore) -> None:
    # Given two readers of one job
    job = new_job()
    store.create(job)
    first, second = store.get(job.job_id), store.get(job.job_id)
    assert first is not None and second is not None and first.version == 1
    # When the first writes / Then the second's write on the old version is refused
    first.transition(JobStatus.VALIDATING, utcnow())
    store.save(first)
    second.transition(JobStatus.EXPIRED, utcnow())
    with pytest.raises(ConcurrentUpdate):
        store.save(second)
    stored = store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.VALIDATING and stored.version == 2
    job.version = None
    with pytest.raises(ConcurrentUpdate):
        store.create(job)


def test_update_reads_again_after_a_conflict(store: JobStore) -> None:
    job = new_job()
    store.create(job)
    seen: list[JobStatus] = []

    def change(current: Job) -> None:
        if not seen:  # another writer gets in between our read and our write
            other = store.get(job.job_id)
            assert other is not None
            other.transition(JobStatus.VALIDATING, utcnow())
            store.save(other)
        seen.append(current.status)

    assert update(store, job.job_id, change) is not None
    assert seen == [JobStatus.AWAITING_UPLOAD, JobStatus.VALIDATING]
    assert update(store, "job_missing", change) is None


def test_active_and_stuck_jobs_are_found_alike(store: JobStore) -> None:
    old = new_job("a")
    old.updated_at = utcnow() - timedelta(hours=2)
    store.create(old)
    store.create(new_job("a"))
    done = new_job("a")
    done.transition(JobStatus.EXPIRED, utcnow())
    store.create(done)
    assert store.count_active("a") == 2 and store.count_active("b") == 0
    stuck = list(store.stuck(JobStatus.AWAITING_UPLOAD, utcnow() - timedelta(hours=1)))
    assert [j.job_id for j in stuck] == [old.job_id]


def test_reservations_are_written_only_on_the_version_read(store: JobStore) -> None:
    # Given an owner without reservations, read by two requests
    assert store.reservations("a") == ({}, None)
    # When the first writes / Then the second, on what it read, is refused; the first's write is read back
    store.save_reservations("a", {"job_1": "2026-11-21T05:00:00.000Z"}, None)
    with pytest.raises(ConcurrentUpdate):
        store.save_reservations("a", {"job_2": "2026-11-21T05:00:00.000Z"}, None)
    held, version = store.reservations("a")
    assert held == {"job_1": "2026-11-21T05:00:00.000Z"} and version is not None
    store.save_reservations("a", {}, version)
    with pytest.raises(ConcurrentUpdate):
        store.save_reservations("a", {"job_3": "x"}, version)
    assert store.reservations("a")[0] == {} and store.reservations("b") == ({}, None)


def test_the_retention_window_is_stored_with_the_job(store: JobStore) -> None:
    # Given a job with a 7-day window, moved on a day later
    job = new_job()
    store.create(job)
    stored = store.get(job.job_id)
    assert stored is not None and stored.retention_s == 7 * 86400
    stored.transition(JobStatus.VALIDATING, job.created_at + timedelta(days=1))
    store.save(stored)
    # Then the record's expiry moved with it
    again = store.get(job.job_id)
    assert again is not None and iso(again.expires_at) == iso(job.created_at + timedelta(days=8))


def _created_at(owner: str, minutes: int) -> Job:
    return Job.create(owner_sub=owner, photo_count=1, styles=["studio_gray"], variants=1,
                     now=utcnow() - timedelta(minutes=minutes), retention=timedelta(days=7),
                     upload_window=timedelta(minutes=15))  # fmt: skip


def _pages(store: JobStore, owner: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    after: OwnerPosition | None = None
    while True:
        page = store.list_by_owner(owner, limit, after)
        if not page:
            return pages
        pages.append([job.job_id for job in page])
        after = OwnerPosition(iso(page[-1].created_at), page[-1].job_id)


def test_an_owners_jobs_list_newest_first_page_by_page(store: JobStore) -> None:
    # Given five jobs of one owner a minute apart, and one of another owner between them
    mine = [_created_at("user-1", minutes) for minutes in (5, 4, 3, 2, 1)]
    for job in [*mine, _created_at("user-2", 3)]:
        store.create(job)
    # When listed two at a time / Then newest first, only the owner's, each once
    newest_first = [job.job_id for job in reversed(mine)]
    assert _pages(store, "user-1", 2) == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


def test_jobs_created_in_the_same_millisecond_are_each_listed_once(store: JobStore) -> None:
    # Given four jobs of one owner with the same created_at
    moment = utcnow()
    jobs = [_created_at("user-1", 0) for _ in range(4)]
    for job in jobs:
        job.created_at = moment
        store.create(job)
    # When listed one at a time / Then every job comes exactly once
    listed = [job_id for page in _pages(store, "user-1", 1) for job_id in page]
    assert sorted(listed) == sorted(job.job_id for job in jobs)
