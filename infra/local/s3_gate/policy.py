"""S3's browser-based upload (POST Object) rules: the form, the policy document and its signature.

moto stores whatever is POSTed; real S3 checks the form against the signed policy first. This
module is that check, following AWS's documented rules (Amazon S3 API Reference, "Browser-based
uploads using POST" and "Creating a POST policy"):

* the form must carry ``key``, ``policy`` and a signature (SigV4: ``x-amz-algorithm``,
  ``x-amz-credential``, ``x-amz-date``, ``x-amz-signature``; SigV2: ``AWSAccessKeyId``,
  ``signature``), and exactly one ``file``, the last part: fields after it are ignored;
* the signature is over the base64 policy text, with the secret of the credential's key;
* the policy has not expired;
* every condition holds (``eq`` and ``{"field": value}`` exactly, ``starts-with`` as a prefix,
  ``content-length-range`` on the file's size), a field named by a condition but absent is empty;
* every form field except ``policy``, the signature, ``file`` and ``x-ignore-*`` is named by a
  condition ("Extra input fields").

Each refusal is the status, code and message S3 answers with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["S3Error", "UploadForm", "check_upload", "parse_form"]

# Not named by conditions: the policy itself, its signature, the file (S3's list).
_UNCONDITIONED = {"policy", "x-amz-signature", "signature", "file", "awsaccesskeyid"}


@dataclass
class S3Error(Exception):
    """An S3 error answer: HTTP status, error code, message, and the extra elements S3 adds."""

    status: int
    code: str
    message: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadForm:
    """The form fields before the file (names as sent), and the file's bytes (None: no file part)."""

    fields: dict[str, str]
    file: bytes | None

    def get(self, name: str) -> str | None:
        """Field names are case-insensitive in S3's form handling."""
        lowered = name.lower()
        return next((v for k, v in self.fields.items() if k.lower() == lowered), None)


def parse_form(content_type: str, body: bytes) -> UploadForm:
    """multipart/form-data → fields up to the first file part, and that file's content."""
    boundary = _boundary(content_type)
    if boundary is None:
        raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    fields: dict[str, str] = {}
    delimiter = b"--" + boundary.encode()
    for raw in body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break  # the closing delimiter
        part = raw[2:] if raw.startswith(b"\r\n") else raw
        head, _, content = part.partition(b"\r\n\r\n")
        content = content[:-2] if content.endswith(b"\r\n") else content
        disposition = _disposition(head.decode("utf-8", "replace"))
        name = disposition.get("name")
        if name is None:
            continue
        if name.lower() == "file":
            return UploadForm(fields, content)  # S3 ignores every field after the file
        fields[name] = content.decode("utf-8", "replace")
    return UploadForm(fields, None)


def check_upload(form: UploadForm, bucket: str, secrets: Mapping[str, str], now: datetime | None = None) -> None:
    """Raise :class:`S3Error` unless S3 would store ``form`` in ``bucket``."""
    if form.file is None:
        raise S3Error(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    if not form.get("key"):
        raise S3Error(
            400, "InvalidArgument",
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        )  # fmt: skip
    policy_b64 = form.get("policy")
    if policy_b64 is None:
        # S3 stores an upload without a policy only in a bucket that grants anonymous writes; ours grants none.
        raise S3Error(403, "AccessDenied", "Access Denied")
    _check_signature(form, policy_b64, secrets)
    policy = _decode(policy_b64)
    _check_expiration(policy, now or datetime.now(UTC))
    values = {k.lower(): v for k, v in form.fields.items()} | {"bucket": bucket}
    named = _check_conditions(policy.get("conditions", []), values, len(form.file))
    free = named | _UNCONDITIONED
    extra = [k for k in form.fields if k.lower() not in free and not k.lower().startswith("x-ignore-")]
    if extra:
        raise S3Error(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")


def _check_signature(form: UploadForm, policy_b64: str, secrets: Mapping[str, str]) -> None:
    if form.get("x-amz-algorithm") is not None:
        if form.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise S3Error(400, "InvalidArgument", "Invalid algorithm; only AWS4-HMAC-SHA256 is supported.")
        credential, provided = form.get("x-amz-credential") or "", form.get("x-amz-signature") or ""
        parts = credential.split("/")
        if len(parts) != 5 or parts[3:] != ["s3", "aws4_request"]:
            raise S3Error(400, "AuthorizationQueryParametersError", f"Invalid credential: {credential}")
        access_key, date, region = parts[:3]
        secret = _secret(secrets, access_key)
        key = f"AWS4{secret}".encode()
        for step in (date, region, "s3", "aws4_request"):
            key = hmac.new(key, step.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
    elif form.get("AWSAccessKeyId") is not None:
        secret, provided = _secret(secrets, form.get("AWSAccessKeyId") or ""), form.get("signature") or ""
        digest = hmac.new(secret.encode(), policy_b64.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
    else:
        raise S3Error(403, "AccessDenied", "Access Denied")
    if not hmac.compare_digest(expected, provided):
        raise S3Error(
            403, "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )  # fmt: skip


def _secret(secrets: Mapping[str, str], access_key: str) -> str:
    if access_key not in secrets:
        raise S3Error(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
            {"AWSAccessKeyId": access_key},
        )  # fmt: skip
    return secrets[access_key]


def _decode(policy_b64: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(policy_b64, validate=True))
    except (binascii.Error, ValueError) as error:
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from error
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions", []), list):
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    return policy


def _check_expiration(policy: dict[str, Any], now: datetime) -> None:
    raw = policy.get("expiration")
    if not isinstance(raw, str):
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Policy missing expiration.")
    try:
        expires = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as error:
        raise S3Error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.") from error
    if expires.tzinfo is None or expires <= now:
        raise S3Error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")


def _check_conditions(conditions: list[Any], values: dict[str, str], size: int) -> set[str]:
    """Check each condition; return the (lower-case) field names the policy names."""
    named: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, expected),) = condition.items()
            operator, subject = "eq", f"${name}"
        elif isinstance(condition, list) and len(condition) == 3:
            operator, subject, expected = condition
        else:
            raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {condition}")
        if operator == "content-length-range":
            low, high = int(subject), int(expected)
            if size > high:
                raise S3Error(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                    {"ProposedSize": str(size), "MaxSizeAllowed": str(high)},
                )  # fmt: skip
            if size < low:
                raise S3Error(
                    400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                    {"ProposedSize": str(size), "MinSizeAllowed": str(low)},
                )  # fmt: skip
            continue
        if operator not in ("eq", "starts-with") or not str(subject).startswith("$"):
            raise S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {condition}")
        name = str(subject)[1:].lower()
        named.add(name)
        actual = values.get(name, "")
        holds = actual == str(expected) if operator == "eq" else actual.startswith(str(expected))
        if not holds:
            shown = json.dumps(condition if isinstance(condition, list) else ["eq", subject, expected])
            raise S3Error(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {shown}")
    return named


def _boundary(content_type: str) -> str | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"')
    return None


def _disposition(head: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() != "content-disposition":
            continue
        for param in value.split(";")[1:]:
            key, _, raw = param.strip().partition("=")
            found[key.lower()] = raw.strip('"')
    return found
