"""Job persistence on DynamoDB (PynamoDB), with optimistic locking on every write.

Item layout (template.yaml, JobsTable): the key and the indexed attributes at top level
(`job_id`; `owner_sub`+`created_at` for by_owner; `status`+`updated_at` for by_status),
`expires_at_ttl` for TTL, `version` for conditional writes, and everything else in one
JSON document. Biometric evidence is stored compactly (float32 embeddings, float16 chip
signatures) and only until the job is deleted or expires.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from headshot.jobs import ACTIVE, Failure, Job, JobStatus, Photo, PhotoStatus, ResultImage, iso
from headshot.reasons import Finding, Reason
from headshot.usecases.ports import ConcurrentUpdate, JobStore, OwnerPosition, StoreUnavailable, update

__all__ = ["ConcurrentUpdate", "DynamoJobStore", "JobStore", "StoreUnavailable", "update"]


class ByOwner(GlobalSecondaryIndex["JobRecord"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_sub = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ByStatus(GlobalSecondaryIndex["JobRecord"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    updated_at = UnicodeAttribute(range_key=True)


class JobRecord(Model):
    class Meta:
        # Bound to the real table name from settings by DynamoJobStore before first use.
        table_name = "jobs-unbound"

    job_id = UnicodeAttribute(hash_key=True)
    owner_sub = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    expires_at_ttl = TTLAttribute()
    version = VersionAttribute()
    doc = JSONAttribute()
    by_owner = ByOwner()
    by_status = ByStatus()


class QuotaRecord(Model):
    """One item per owner in the same table (key `quota#<owner_sub>`): the owner's active-job
    reservations. It has none of the indexed attributes, so no index ever lists it."""

    class Meta:
        table_name = "jobs-unbound"

    job_id = UnicodeAttribute(hash_key=True)
    version = VersionAttribute()
    doc = JSONAttribute()


def _quota_key(owner_sub: str) -> str:
    return f"quota#{owner_sub}"


class DynamoJobStore:
    """The JobStore port on the table named in settings; ClientErrors become domain errors here."""

    def __init__(self, table_name: str) -> None:
        JobRecord.Meta.table_name = table_name
        QuotaRecord.Meta.table_name = table_name

    def create(self, job: Job) -> None:
        record = _to_record(job)
        try:
            record.save(condition=JobRecord.job_id.does_not_exist())
        except PutError as error:
            raise _translate(error) from error
        job.version = record.version

    def get(self, job_id: str) -> Job | None:
        try:
            return _from_record(JobRecord.get(job_id, consistent_read=True))
        except DoesNotExist:
            return None
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from error

    def save(self, job: Job) -> None:
        """Write the whole job if nobody else changed it since it was read."""
        record = _to_record(job)
        try:
            record.save()  # VersionAttribute adds "version = :read_version" to the condition
        except PutError as error:
            raise _translate(error) from error
        job.version = record.version

    def list_by_owner(self, owner_sub: str, limit: int, after: OwnerPosition | None) -> list[Job]:
        start = None
        if after is not None:  # the index's key and the table's: where DynamoDB resumes
            start = {"owner_sub": {"S": owner_sub}, "created_at": {"S": after.created_at},
                     "job_id": {"S": after.job_id}}  # fmt: skip
        try:
            records = JobRecord.by_owner.query(
                owner_sub, scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=start
            )
            return [_from_record(record) for record in records]
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from error

    def count_active(self, owner_sub: str) -> int:
        return sum(1 for record in JobRecord.by_owner.query(owner_sub) if JobStatus(record.status) in ACTIVE)

    def reservations(self, owner_sub: str) -> tuple[dict[str, str], int | None]:
        try:
            record = QuotaRecord.get(_quota_key(owner_sub), consistent_read=True)
        except DoesNotExist:
            return {}, None
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from error
        return dict(record.doc.get("reservations", {})), record.version

    def save_reservations(self, owner_sub: str, reservations: dict[str, str], version: int | None) -> None:
        """Written only on the version read (absent: only if no one created it meanwhile)."""
        record = QuotaRecord(_quota_key(owner_sub), doc={"reservations": reservations})
        if version is not None:
            record.version = version
        try:
            record.save()  # VersionAttribute: "version = :read" or "attribute_not_exists(version)"
        except PutError as error:
            raise _translate(error) from error

    def remove(self, job_id: str) -> None:
        try:
            JobRecord(job_id).delete(add_version_condition=False)
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from error

    def remove_reservations(self, owner_sub: str) -> None:
        try:
            QuotaRecord(_quota_key(owner_sub)).delete(add_version_condition=False)
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from error

    def stuck(self, status: JobStatus, before: datetime) -> Iterator[Job]:
        for record in JobRecord.by_status.query(status.value, JobRecord.updated_at < iso(before)):
            yield _from_record(record)


def _translate(error: PutError) -> Exception:
    code = getattr(getattr(error, "cause", None), "response", {}).get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException" or error.cause_response_code == "ConditionalCheckFailedException":
        return ConcurrentUpdate("conditional write failed")
    return StoreUnavailable(str(error.cause_response_code or type(error).__name__))


def _encode(array: np.ndarray | None, dtype: type[np.floating[Any]]) -> str | None:
    return None if array is None else base64.b64encode(np.asarray(array, dtype=dtype).tobytes()).decode()


def _decode(text: str | None, dtype: type[np.floating[Any]]) -> np.ndarray | None:
    return None if text is None else np.frombuffer(base64.b64decode(text), dtype=dtype).astype(np.float32)


def _lab(values: list[float] | None) -> tuple[float, float, float] | None:
    return (float(values[0]), float(values[1]), float(values[2])) if values else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _findings(items: list[dict[str, str]]) -> list[Finding]:
    return [Finding(Reason(item["code"]), item["message"]) for item in items]


def _to_record(job: Job) -> JobRecord:
    record = JobRecord(
        job.job_id,
        owner_sub=job.owner_sub,
        status=job.status.value,
        created_at=iso(job.created_at),
        updated_at=iso(job.updated_at),
        expires_at_ttl=job.expires_at,
        doc={
            "expires_at": iso(job.expires_at),
            "upload_expires_at": iso(job.upload_expires_at),
            "styles": job.styles,
            "variants": job.variants,
            "webhook_url": job.webhook_url,
            "client_reference": job.client_reference,
            "round": job.round,
            "inference_id": job.inference_id,
            "inference_invoked": job.inference_invoked,
            "output_location": job.output_location,
            "inference_objects": job.inference_objects,
            "error": job.error.to_dict() if job.error else None,
            "history": [list(entry) for entry in job.history],
            "deliveries": job.deliveries,
            "retention_s": job.retention_s,
            "photos": [
                {
                    "photo_id": p.photo_id,
                    "index": p.index,
                    "status": p.status.value,
                    "reasons": [r.to_dict() for r in p.reasons],
                    "warnings": [w.to_dict() for w in p.warnings],
                    "embedding": _encode(p.embedding, np.float32),
                    "chip_signature": _encode(p.chip_signature, np.float16),
                    "skin_lab": list(p.skin_lab) if p.skin_lab else None,
                    "eye_openness": p.eye_openness,
                    "key": p.key,
                }
                for p in job.photos
            ],
            "results": [
                {
                    "image_id": r.image_id,
                    "style": r.style,
                    "key": r.key,
                    "seed": r.seed,
                    "fidelity": r.fidelity,
                    "round": r.round,
                    "variant": r.variant,
                    "source_photo_id": r.source_photo_id,
                }
                for r in job.results
            ],
        },
    )
    if job.version is not None:
        record.version = job.version
    return record


def _from_record(record: JobRecord) -> Job:
    doc: dict[str, Any] = record.doc
    error = doc.get("error")
    return Job(
        job_id=record.job_id,
        owner_sub=record.owner_sub,
        status=JobStatus(record.status),
        created_at=datetime.fromisoformat(record.created_at),
        updated_at=datetime.fromisoformat(record.updated_at),
        expires_at=datetime.fromisoformat(doc["expires_at"]),
        upload_expires_at=datetime.fromisoformat(doc["upload_expires_at"]),
        styles=list(doc["styles"]),
        variants=int(doc["variants"]),
        photos=[
            Photo(
                photo_id=p["photo_id"],
                index=int(p["index"]),
                status=PhotoStatus(p["status"]),
                reasons=_findings(p["reasons"]),
                warnings=_findings(p["warnings"]),
                embedding=_decode(p.get("embedding"), np.float32),
                chip_signature=_decode(p.get("chip_signature"), np.float16),
                skin_lab=_lab(p.get("skin_lab")),
                eye_openness=_float(p.get("eye_openness")),
                key=p.get("key"),
            )
            for p in doc["photos"]
        ],
        webhook_url=doc.get("webhook_url"),
        client_reference=doc.get("client_reference"),
        round=int(doc.get("round", 0)),
        inference_id=doc.get("inference_id"),
        inference_invoked=bool(doc.get("inference_invoked")),
        output_location=doc.get("output_location"),
        inference_objects=list(doc.get("inference_objects", [])),
        # Records written before results carried their round held the current round's only.
        results=[ResultImage(**({"round": int(doc.get("round", 1))} | r)) for r in doc.get("results", [])],
        error=Failure(**error) if error else None,
        history=[(entry[0], entry[1]) for entry in doc.get("history", [])],
        deliveries=dict(doc.get("deliveries", {})),
        # Records written before the field: their window was created_at to expires_at.
        retention_s=int(
            doc.get("retention_s")
            or (datetime.fromisoformat(doc["expires_at"]) - datetime.fromisoformat(record.created_at)).total_seconds()
        ),
        version=record.version,
    )
