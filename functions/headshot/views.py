"""The public read model: what GET /v1/jobs/{id}, POST /v1/jobs, GET /v1/styles and the
webhook events show of a job (docs/openapi.yaml). Nothing here changes a job."""

from __future__ import annotations

from typing import Any

from headshot.contract import STYLE_CATALOGUE
from headshot.jobs import Job, Photo, iso


def photo_view(photo: Photo) -> dict[str, Any]:
    return {
        "photo_id": photo.photo_id,
        "status": photo.status.value,
        "reasons": [r.to_dict() for r in photo.reasons],
        "warnings": [w.to_dict() for w in photo.warnings],
    }


def job_view(job: Job, result_urls: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The job body; result_urls maps a result's key -> (url, expires_at), and results without one are left out.

    Results of every round stay listed (oldest round first) until the job is deleted.
    """
    urls = result_urls or {}
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "styles": list(job.styles),
        "variants": job.variants,
        "round": job.round,
        "client_reference": job.client_reference,
        "photos": [photo_view(p) for p in job.photos],
        "results": [
            {
                "image_id": r.image_id,
                "round": r.round,
                "style": r.style,
                "variant": r.variant,
                "source_photo_id": r.source_photo_id,
                "url": urls[r.key][0],
                "expires_at": urls[r.key][1],
                "fidelity": r.fidelity,
            }
            for r in sorted(job.results, key=lambda r: r.round)
            if r.key in urls
        ],
        "error": job.error.to_dict() if job.error else None,
        "timeline": [{"status": s, "at": at} for s, at in job.history],
        "webhook_deliveries": [{"event_id": event_id, **record} for event_id, record in job.deliveries.items()],
    }


def created_job(job: Job, uploads: list[dict[str, Any]]) -> dict[str, Any]:
    """The POST /v1/jobs body: one presigned POST per photo ({photo_id, url, fields, expires_at})."""
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "uploads": uploads,
        "expires_at": uploads[0]["expires_at"],
    }


def style_catalogue() -> dict[str, Any]:
    return {
        "styles": [
            {"style_id": style_id, "name": style.name, "description": style.description}
            for style_id, style in STYLE_CATALOGUE.items()
        ]
    }
