"""A transient InvokeEndpointAsync error never strands a job: redelivery and the sweeper retry it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from headshot.jobs import JobStatus
from headshot.usecases.ports import InferenceUnavailable
from headshot.usecases.regenerate_job import Regeneration
from tests.fakes import World
from tests.unit.usecases.conftest import create


def settled_but_not_invoked(world: World) -> str:
    """A one-photo job whose photo was accepted while the endpoint refused the invocation."""
    job = create(world)
    photo = job.photos[0].photo_id
    world.storage.put(f"uploads/{job.job_id}/{photo}", b"person:0:shot:0")
    world.inference.failures = 1
    with pytest.raises(InferenceUnavailable):
        world.plane.record_upload(job.job_id, photo)
    stored = world.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.QUEUED and not stored.inference_invoked
    return job.job_id


def test_the_redelivered_upload_event_invokes_again(world: World) -> None:
    # Given a job whose first invocation failed (the upload event is redelivered)
    job_id = settled_but_not_invoked(world)
    photo = world.store.jobs[job_id].photos[0].photo_id
    # When the event comes back
    world.plane.record_upload(job_id, photo)
    # Then the same round is invoked under the same inference id, and the photo is not checked again
    stored = world.store.get(job_id)
    assert stored is not None and stored.inference_invoked and stored.round == 1
    assert [call[1] for call in world.inference.calls] == [f"{job_id}-r1", f"{job_id}-r1"]
    assert len(world.checker.checked) == 1


def test_the_sweeper_invokes_a_round_left_uninvoked(world: World) -> None:
    # Given a job whose invocation failed and whose event is gone (dead-lettered), a few minutes on
    job_id = settled_but_not_invoked(world)
    world.clock.advance(timedelta(minutes=5))
    # When the sweeper runs
    assert world.plane.sweep() == []
    # Then the round is invoked, and the job waits for its result as usual
    stored = world.store.get(job_id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.inference_invoked
    assert [call[1] for call in world.inference.calls] == [f"{job_id}-r1", f"{job_id}-r1"]


def test_a_sweeper_retry_that_fails_again_is_left_for_the_next_run(world: World) -> None:
    job_id = settled_but_not_invoked(world)
    world.clock.advance(timedelta(minutes=5))
    world.inference.failures = 1
    assert world.plane.sweep() == []
    assert not world.store.jobs[job_id].inference_invoked
    assert world.plane.sweep() == [] and world.store.jobs[job_id].inference_invoked


def test_regenerate_on_a_stranded_round_invokes_it_instead_of_refusing(world: World) -> None:
    # Given a job whose invocation failed; its owner asks to regenerate
    job_id = settled_but_not_invoked(world)
    view = world.plane.regenerate("user-alice", job_id, Regeneration())
    # Then the stranded round is invoked (no new round), rather than a 409
    assert (view["status"], view["round"]) == ("queued", 1)
    stored = world.store.get(job_id)
    assert stored is not None and stored.inference_invoked
