"""Errors that map to an HTTP status and a stable machine-readable code.

4xx means "this request can never succeed as sent" (SageMaker must not retry it and the
job ends `failed` with the code); 5xx means a fault on our side.
"""

from __future__ import annotations

from typing import Any


class InferenceError(Exception):
    """A request that ends with an error body `{"error": {"code", "message"}}`."""

    status = 400

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequestError(InferenceError):
    """Malformed or unusable input: retrying the same request cannot help."""

    status = 400


class UnprocessableError(InferenceError):
    """Well-formed input, but the result would not meet the quality bar (e.g. fidelity)."""

    status = 422


class NotReadyError(InferenceError):
    """The backend is still loading."""

    status = 503
