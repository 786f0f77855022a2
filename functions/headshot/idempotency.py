"""The IdempotentRequests port on Powertools' idempotency utility, its records in the jobs table.

A record's key is `idempotency#<md5 of [subject, operation, Idempotency-Key]>`: scoped to the
caller (another user's equal key is another record) and to the operation (a create's key and a
regeneration's never meet). Powertools keeps a hash of the request body beside it: the same key
with another body is refused instead of answered. Records expire after `expires_after_s`
(Powertools checks that itself; the table's TTL attribute deletes them later), hold no body,
only the answer the operation returned, and an exception is never stored: a failed request may
be sent again with the same key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from headshot.jobs import JobError
from headshot.usecases.ports import StoreUnavailable

KEY_PREFIX = "idempotency"


class DynamoIdempotentRequests:
    """Runs an operation once per (caller, operation, key); later calls get its stored answer."""

    def __init__(self, table_name: str, expires_after_s: int, client: Any | None = None) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="[owner, operation, key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_s,
        )
        # The jobs table's key and TTL attributes; `status` is its by_status index's key, so the
        # record's own status goes under another name and no index ever lists a record.
        self._layer = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="job_id",
            expiry_attr="expires_at_ttl",
            status_attr="idempotency_status",
            boto3_client=client or boto3.client("dynamodb"),
        )

    def bind_context(self, context: LambdaContext) -> None:
        """A record left `in progress` by an invocation that timed out is released when it ends."""
        self._config.register_lambda_context(context)

    def once(
        self, owner_sub: str, operation: str, key: str, request: Mapping[str, Any], call: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools types it as returning Any
            data_keyword_argument="data", persistence_store=self._layer, config=self._config, key_prefix=KEY_PREFIX
        )
        def run(data: dict[str, Any]) -> dict[str, Any]:
            return call()

        try:
            answer: dict[str, Any] = run(data={"owner": owner_sub, "operation": operation, "key": key,
                                              "request": dict(request)})  # fmt: skip
        except IdempotencyValidationError:
            raise JobError(
                "idempotency_key_reused", "Idempotency-Key: this key was used with another request body"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise JobError("request_in_progress", "a request with this Idempotency-Key is still running") from None
        except IdempotencyPersistenceLayerError as error:
            raise StoreUnavailable(type(error).__name__) from error
        return answer
