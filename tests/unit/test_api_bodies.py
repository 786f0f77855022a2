"""API request bodies: shape errors are 400 invalid_request, values out of range 422 out_of_range, each
naming the field; defaults fill the rest."""

from __future__ import annotations

import pytest
from api.bodies import CreateJobBody, RegenerateBody, parse
from api.errors import ApiError, status_of

from headshot.jobs import JobError
from headshot.usecases.create_job import NewJob
from headshot.usecases.regenerate_job import Regeneration


def test_an_empty_body_is_the_default_job() -> None:
    assert parse(CreateJobBody, None).command() == NewJob(1, ("studio_gray",), 4, None, None)
    assert parse(RegenerateBody, "").command() == Regeneration(None, None)


def test_a_full_body_becomes_the_command() -> None:
    raw = ('{"photo_count": 3, "styles": ["studio_blue", "office_blur"], "variants": 2, '
           '"webhook_url": "https://hooks.example.com/h", "client_reference": "order-7"}')  # fmt: skip
    assert parse(CreateJobBody, raw).command() == NewJob(
        3, ("studio_blue", "office_blur"), 2, "https://hooks.example.com/h", "order-7"
    )


@pytest.mark.parametrize(
    ("raw", "status", "code", "field"),
    [
        ("{not json", 400, "invalid_json", ""),
        ("[1, 2]", 400, "invalid_request", ""),
        ('{"photo_count": 0}', 422, "out_of_range", "photo_count"),
        ('{"photo_count": 21}', 422, "out_of_range", "photo_count"),
        ('{"photo_count": true}', 400, "invalid_request", "photo_count"),
        ('{"photo_count": "2"}', 400, "invalid_request", "photo_count"),
        ('{"variants": 9}', 422, "out_of_range", "variants"),
        ('{"styles": []}', 422, "out_of_range", "styles"),
        ('{"styles": ["studio_gray", "studio_gray"]}', 422, "out_of_range", "styles"),
        ('{"client_reference": "' + "x" * 129 + '"}', 422, "out_of_range", "client_reference"),
        ('{"surprise": 1}', 400, "invalid_request", "surprise"),
    ],
)
def test_malformed_bodies_are_400_and_values_out_of_range_422_naming_the_field(
    raw: str, status: int, code: str, field: str
) -> None:
    with pytest.raises(ApiError) as refused:
        parse(CreateJobBody, raw)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.message.startswith(field)


def test_regenerate_accepts_only_styles_and_variants() -> None:
    with pytest.raises(ApiError) as refused:
        parse(RegenerateBody, '{"photo_count": 2}')
    assert refused.value.code == "invalid_request" and "photo_count" in refused.value.message


@pytest.mark.parametrize(
    ("code", "status"),
    [("not_found", 404), ("not_regenerable", 409), ("unknown_style", 422), ("invalid_webhook_url", 422),
     ("too_many_active_jobs", 429), ("a_code_nobody_mapped", 500)],
)  # fmt: skip
def test_domain_errors_answer_with_their_status(code: str, status: int) -> None:
    assert status_of(JobError(code, "message")) == status
