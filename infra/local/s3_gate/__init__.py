"""A local S3 as strict as S3 where the pipeline depends on it: POST policies, anonymous access."""

from infra.local.s3_gate.policy import S3Error, UploadForm, check_upload, parse_form
from infra.local.s3_gate.proxy import S3Gate

__all__ = ["S3Error", "S3Gate", "UploadForm", "check_upload", "parse_form"]
