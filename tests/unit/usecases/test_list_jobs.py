"""ListJobs (GET /v1/jobs): the caller's jobs, newest first, a page at a time, nobody else's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from headshot.jobs import JobError
from headshot.usecases.list_jobs import ListJobs
from tests.fakes import World
from tests.unit.usecases.conftest import create


def jobs_of(world: World, owner: str, count: int) -> list[str]:
    """`count` jobs of `owner`, one a minute apart, their ids newest first (regardless of the cap)."""
    ids = []
    for _ in range(count):
        job = create(world, owner)
        world.store.jobs[job.job_id].status = world.store.jobs[job.job_id].status.EXPIRED  # frees the cap
        world.clock.advance(timedelta(minutes=1))
        ids.append(job.job_id)
    return ids[::-1]


def test_the_owners_jobs_come_newest_first_a_page_at_a_time(world: World) -> None:
    # Given 5 jobs of alice and 2 of bob, interleaved in time
    alice = jobs_of(world, "user-alice", 3)
    jobs_of(world, "user-bob", 2)
    alice = jobs_of(world, "user-alice", 2) + alice
    # When alice lists them two at a time
    pages, cursor = [], None
    while True:
        page = world.plane.list_jobs("user-alice", limit=2, cursor=cursor)
        pages.append([job["job_id"] for job in page["jobs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Then she sees exactly her five, newest first, in pages of 2, 2, 1, and the last has no cursor
    assert pages == [alice[0:2], alice[2:4], alice[4:5]]


def test_a_job_is_shown_as_get_shows_it(world: World) -> None:
    job = create(world, client_reference="order-7")
    (listed,) = world.plane.list_jobs("user-alice")["jobs"]
    assert listed == world.plane.get_job("user-alice", job.job_id)


def test_a_caller_without_jobs_gets_an_empty_page(world: World) -> None:
    jobs_of(world, "user-bob", 2)
    assert world.plane.list_jobs("user-alice") == {"jobs": [], "next_cursor": None}


def test_another_owners_cursor_is_refused(world: World) -> None:
    # Given bob's cursor to his second page
    jobs_of(world, "user-bob", 3)
    bobs = world.plane.list_jobs("user-bob", limit=1)["next_cursor"]
    assert bobs is not None
    # When alice presents it / Then it is refused as a cursor not hers
    with pytest.raises(JobError) as refused:
        world.plane.list_jobs("user-alice", limit=1, cursor=bobs)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize("cursor", ["", "not-base64!", "eyJ9", "e30", "W10", "eyJjIjogMSwgImoiOiAyLCAibyI6IDN9"])
def test_a_cursor_that_is_not_ours_is_refused(world: World, cursor: str) -> None:
    with pytest.raises(JobError) as refused:
        world.plane.list_jobs("user-alice", cursor=cursor)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_a_limit_out_of_range_is_refused(world: World, limit: int) -> None:
    with pytest.raises(JobError) as refused:
        world.plane.list_jobs("user-alice", limit=limit)
    assert refused.value.code == "out_of_range"


def test_the_default_page_is_twenty(world: World) -> None:
    jobs_of(world, "user-alice", 21)
    page = ListJobs(world.store, world.storage, world.clock)("user-alice")
    assert len(page["jobs"]) == 20 and page["next_cursor"] is not None
