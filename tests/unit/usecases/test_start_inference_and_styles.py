"""StartInference invokes a queued round once; the style catalogue is the contract's."""

from __future__ import annotations

import pytest

from headshot.contract import STYLE_CATALOGUE
from headshot.jobs import JobStatus
from headshot.usecases.list_styles import list_styles
from headshot.usecases.start_inference import StartInference
from tests.fakes import World
from tests.unit.usecases.conftest import create, queued


def test_a_round_is_invoked_once_however_often_it_is_started(world: World) -> None:
    # Given a queued, invoked job
    job = queued(world)
    # When its round is started again (a redelivered event) / Then nothing more is invoked or written
    writes = world.store.writes
    assert world.plane.start_inference(job).inference_invoked
    assert len(world.inference.calls) == 1 and world.store.writes == writes


def test_only_queued_rounds_start(world: World) -> None:
    job = create(world)
    assert world.plane.start_inference(job).status is JobStatus.AWAITING_UPLOAD
    assert world.inference.calls == [] and world.storage.listing("requests/*") == []


def test_a_function_without_an_endpoint_cannot_start_a_round(world: World) -> None:
    job = create(world)
    job.transition(JobStatus.VALIDATING, world.clock())
    job.start_round(world.clock())
    with pytest.raises(RuntimeError, match="SAGEMAKER_ENDPOINT_NAME"):
        StartInference(world.store, world.storage, None)(job)


def test_the_catalogue_lists_every_style_of_the_contract_in_order() -> None:
    styles = list_styles()["styles"]
    assert [s["style_id"] for s in styles] == list(STYLE_CATALOGUE)
    assert all(s["name"] and s["description"] for s in styles)
