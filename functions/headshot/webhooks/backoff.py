"""Retry backoff for failed deliveries (the SQS visibility delay before the next attempt)."""

from __future__ import annotations

import random
from typing import Final

SQS_MAX_VISIBILITY_S: Final = 43200


def retry_delay_seconds(attempt: int, *, base: int = 30, cap: int = 3600, jitter: random.Random | None = None) -> int:
    """Seconds to hide a message before the next try (ChangeMessageVisibility after attempt ``attempt``).

    ``attempt`` is 1-based, i.e. SQS's ApproximateReceiveCount of the failed try. The ceiling is
    ``base * 2**(attempt-1)``, limited by ``cap`` and SQS's 12 h visibility maximum. With
    ``jitter`` it is "full jitter" (uniform in [1, ceiling]) so retries of many events spread out;
    the 1 s floor keeps a failed event from coming straight back. Without it, the ceiling.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base < 1 or cap < 1:
        raise ValueError("base and cap must be positive")
    limit = min(cap, SQS_MAX_VISIBILITY_S)
    # Exponent clamped: 2**40 * base already exceeds any limit, and huge powers cost time.
    ceiling = min(limit, base * (1 << min(attempt - 1, 40)))
    if jitter is None:
        return ceiling
    return jitter.randint(1, ceiling)
