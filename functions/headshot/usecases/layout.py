"""Where a job's objects live in the data bucket (template.yaml lifecycle rules expire each prefix).

uploads/{job_id}/{photo_id}            original upload (1-day backstop; deleted after validation)
photos/{job_id}/{photo_id}.jpg         normalised, EXIF-free copy kept for inference
requests/{job_id}/r{round}.json        inference request manifest
results/{job_id}/r{round}/{image}.png  generated headshots
async-output/…, async-failure/…        SageMaker's own output objects (exact keys on the job)
"""

from __future__ import annotations

from typing import Final

JOB_PREFIXES: Final = ("uploads/", "photos/", "requests/", "results/")


def upload_key(job_id: str, photo_id: str) -> str:
    return f"uploads/{job_id}/{photo_id}"


def photo_key(job_id: str, photo_id: str) -> str:
    return f"photos/{job_id}/{photo_id}.jpg"


def request_key(job_id: str, round_number: int) -> str:
    return f"requests/{job_id}/r{round_number}.json"


def results_prefix(job_id: str, round_number: int) -> str:
    return f"results/{job_id}/r{round_number}/"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(job_id, photo_id) of an uploads/ key, or None for anything else."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "uploads" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
