"""S3 reads and writes of the container (boto3; endpoints come from AWS_ENDPOINT_URL*).

A missing photo is the request's fault (400: the job's photos were deleted or the
validator named a wrong key); any other S3 failure is ours (500).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from headshot_inference.errors import BadRequestError
from headshot_inference.request import S3Location

_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})


class StorageError(RuntimeError):
    """S3 failed for a reason that is not the request's fault."""


class PhotoStore:
    def __init__(self, client: Any | None = None) -> None:
        # Standard retry mode backs off on throttling and 5xx; clients are thread-safe.
        self._client = client or boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))

    def read_photo(self, location: S3Location, max_bytes: int) -> bytes:
        try:
            response = self._client.get_object(Bucket=location.bucket, Key=location.key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise BadRequestError("photo_not_found", f"no photo at {location.uri}") from None
            raise StorageError(f"reading {location.uri} failed ({code})") from error
        except BotoCoreError as error:
            raise StorageError(f"reading {location.uri} failed ({type(error).__name__})") from error
        body = response["Body"]
        try:
            length = int(response.get("ContentLength") or 0)
            if length > max_bytes:
                raise BadRequestError("photo_too_large", f"{location.uri} has {length} bytes (limit {max_bytes})")
            data: bytes = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:
            raise BadRequestError("photo_too_large", f"{location.uri} is larger than {max_bytes} bytes")
        return data

    def write_image(self, location: S3Location, data: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=data,
                ContentType=content_type,
                # Headshots are personal data: never cached by shared caches on the way out.
                CacheControl="private, max-age=0",
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"writing {location.uri} failed ({type(error).__name__})") from error
