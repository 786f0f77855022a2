"""RegenerateJob: a finished job gets a new round from its accepted photos, invoked once."""

from __future__ import annotations

import json

import pytest

from headshot.jobs import JobError, JobStatus
from headshot.usecases.regenerate_job import Regeneration
from tests.fakes import BUCKET, World
from tests.unit.usecases.conftest import create, queued


def test_a_completed_job_gets_round_two_in_other_styles(world: World) -> None:
    # Given a completed job
    job = queued(world)
    job.transition(JobStatus.COMPLETED, world.clock())
    world.store.put(job)
    # When its owner regenerates it in another style with two variants
    view = world.plane.regenerate("user-alice", job.job_id, Regeneration(("studio_blue",), 2))
    # Then round 2 is queued and invoked with those, and its own request written
    assert (view["status"], view["round"], view["styles"], view["variants"]) == ("queued", 2, ["studio_blue"], 2)
    assert world.inference.calls[-1] == (f"s3://{BUCKET}/requests/{job.job_id}/r2.json", f"{job.job_id}-r2")
    manifest = json.loads(world.storage.get_bytes(f"requests/{job.job_id}/r2.json"))
    assert manifest["round"] == 2 and manifest["styles"] == ["studio_blue"] and manifest["variants"] == 2
    # And a second request conflicts, because the job is queued again
    with pytest.raises(JobError) as conflict:
        world.plane.regenerate("user-alice", job.job_id, Regeneration())
    assert conflict.value.code == "not_regenerable"


def test_only_finished_jobs_with_accepted_photos_regenerate(world: World) -> None:
    waiting = create(world)
    with pytest.raises(JobError) as conflict:
        world.plane.regenerate("user-alice", waiting.job_id, Regeneration())
    assert conflict.value.code == "not_regenerable"
    stored = world.store.get(waiting.job_id)
    assert stored is not None and stored.round == 0 and world.inference.calls == []


def test_unknown_styles_and_strangers_are_refused(world: World) -> None:
    job = queued(world)
    job.transition(JobStatus.FAILED, world.clock())
    world.store.put(job)
    for owner, request, code in (("user-alice", Regeneration(("neon",)), "unknown_style"),
                                 ("user-mallory", Regeneration(), "not_found")):  # fmt: skip
        with pytest.raises(JobError) as refused:
            world.plane.regenerate(owner, job.job_id, request)
        assert refused.value.code == code
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.FAILED and stored.round == 1
