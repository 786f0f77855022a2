"""moto made as atomic as DynamoDB where the pipeline depends on it.

DynamoDB applies a conditional write atomically: of two writers that read version 3, one wins
and the other gets ConditionalCheckFailedException. moto's server handles requests on threads
and checks the condition and stores the item as two Python steps, so two writers can both win
(seen under a 200-job load: a photo's settlement lost, its job expired with a false reason).
Every DynamoDB request to the local moto server is therefore served one at a time.
"""

from __future__ import annotations

import threading
from functools import wraps
from typing import Any

_LOCK = threading.Lock()


def serialise_dynamodb() -> None:
    """Serve moto's DynamoDB requests one at a time in this process (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "serialised", False):
        return

    @wraps(original)
    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    call_action.serialised = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
