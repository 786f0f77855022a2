"""The data bucket on S3: presigned POST/GET, bounded reads, and erasing a job.

The key layout is `headshot.usecases.layout`'s; this adapter implements the ObjectStorage port.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from headshot.jobs import iso
from headshot.usecases.layout import JOB_PREFIXES, parse_upload_key, photo_key, request_key, results_prefix, upload_key
from headshot.usecases.ports import ObjectMissing, PresignedUpload, StorageError

UPLOAD_CONTENT_TYPE_PREFIX: Final = "image/"
# The Content-Type field the recipe returns; the policy accepts any image/* the client puts instead.
UPLOAD_CONTENT_TYPE: Final = "image/jpeg"

__all__ = [
    "JOB_PREFIXES",
    "ObjectMissing",
    "PresignedUpload",
    "S3Storage",
    "StorageError",
    "parse_upload_key",
    "photo_key",
    "request_key",
    "results_prefix",
    "upload_key",
]


class S3Storage:
    """The data bucket. One client per process; ClientError never leaves this class."""

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        # SigV4 everywhere (presigned POST policies require it); retries are botocore's standard mode.
        self._s3 = client or boto3.client("s3", config=Config(signature_version="s3v4", retries={"mode": "standard"}))

    def presign_upload(self, key: str, max_bytes: int, now: datetime, expires_in: timedelta) -> PresignedUpload:
        """A presigned POST that fixes the key and bounds size and content type.

        Every form field the policy requires is among the returned fields (Content-Type included),
        so sending the fields as given and then the file is a complete upload.
        """
        seconds = int(expires_in.total_seconds())
        try:
            post = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": UPLOAD_CONTENT_TYPE},
                Conditions=[
                    ["content-length-range", 1, max_bytes],
                    ["starts-with", "$Content-Type", UPLOAD_CONTENT_TYPE_PREFIX],
                ],
                ExpiresIn=seconds,
            )
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"presign failed ({type(error).__name__})") from error
        return PresignedUpload(post["url"], dict(post["fields"]), iso(now + expires_in))

    def presign_get(self, key: str, now: datetime, expires_in: timedelta) -> tuple[str, str]:
        url = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=int(expires_in.total_seconds())
        )
        return url, iso(now + expires_in)

    def head_size(self, key: str) -> int:
        try:
            return int(self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(key) from error
            raise StorageError(f"head failed ({_code(error)})") from error

    def exists(self, key: str) -> bool:
        """By listing (s3:ListBucket): a HEAD without that permission cannot tell missing from forbidden."""
        try:
            response = self._s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"list failed ({type(error).__name__})") from error
        return any(item["Key"] == key for item in response.get("Contents", []))

    def read_limited(self, key: str, max_bytes: int) -> bytes:
        """Read at most max_bytes + 1 bytes, so an oversize object is detected, never slurped."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes}")
            data: bytes = response["Body"].read()
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(key) from error
            raise StorageError(f"get failed ({_code(error)})") from error
        return data

    def get_bytes(self, key: str) -> bytes:
        return self.read_limited(key, 64 * 1024 * 1024)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"put failed ({type(error).__name__})") from error

    def delete(self, keys: list[str]) -> int:
        """Delete exact keys (missing ones are fine); returns how many were asked for."""
        for start in range(0, len(keys), 1000):
            batch: list[Any] = [{"Key": key} for key in keys[start : start + 1000]]
            try:
                response = self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except (BotoCoreError, ClientError) as error:
                raise StorageError(f"delete failed ({type(error).__name__})") from error
            if response.get("Errors"):
                raise StorageError(f"{len(response['Errors'])} objects could not be deleted")
        return len(keys)

    def erase_job(self, job_id: str, extra_keys: list[str], prefixes: tuple[str, ...] = JOB_PREFIXES) -> int:
        """Delete every object of a job under its prefixes plus SageMaker's exact output keys."""
        keys = list(extra_keys)
        for prefix in prefixes:
            keys.extend(self._keys_under(f"{prefix}{job_id}/"))
        return self.delete(keys)

    def erase_under(self, prefix: str, extra_keys: list[str]) -> int:
        """Delete every object under one key prefix (e.g. a round's results), and these exact keys."""
        return self.delete([*extra_keys, *self._keys_under(prefix)])

    def _keys_under(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"list failed ({type(error).__name__})") from error
        return keys


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))
