"""The C2PA signing material from Secrets Manager (boto3; endpoints from AWS_ENDPOINT_URL*).

Read once per process, at load: any failure (no such secret, no permission, not the JSON
docs/CONTENT_CREDENTIALS.md describes, a key c2pa refuses) is a ConfigurationError that
stops the start with the secret's ARN and the reason, never a job later on.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from headshot.settings import ConfigurationError
from headshot_inference.content_credentials import ContentCredentials, SigningMaterial

log = logging.getLogger("headshot_inference.signing_secret")


def fetch_signing_material(secret_arn: str, client: Any | None = None) -> SigningMaterial:
    """The secret's JSON, parsed; ConfigurationError naming the ARN and what is wrong."""
    client = client or boto3.client("secretsmanager", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    source = f"HEADSHOT_C2PA_SECRET_ARN ({secret_arn})"
    try:
        response = client.get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        raise ConfigurationError(f"{source}: cannot read the C2PA signing secret ({code})") from None
    except BotoCoreError as error:
        raise ConfigurationError(f"{source}: cannot read the C2PA signing secret ({type(error).__name__})") from None
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise ConfigurationError(f"{source}: the C2PA signing secret must be a SecretString (JSON), not binary")
    return SigningMaterial.from_json(text, source=source)


def load_content_credentials(secret_arn: str | None, client: Any | None = None) -> ContentCredentials | None:
    """The process's signer, or None (logged as a warning) when no secret is configured."""
    if secret_arn is None:
        log.warning(
            "HEADSHOT_C2PA_SECRET_ARN is not set: outputs carry the IPTC XMP disclosure but no signed "
            "C2PA Content Credentials (the SageMaker endpoint always sets it)"
        )
        return None
    material = fetch_signing_material(secret_arn, client)
    credentials = ContentCredentials(material, source=f"HEADSHOT_C2PA_SECRET_ARN ({secret_arn})")
    log.info("C2PA Content Credentials: signing with %s (%s)", secret_arn, material.algorithm)
    return credentials
