"""HTTP API function: POST/GET/DELETE jobs, styles, regenerate. Thin: parse, call, map errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from api.bodies import CreateJobBody, RegenerateBody, WebhookTestBody, idempotency_key, parse, raw_body
from api.errors import ApiError, headers_of, status_of
from headshot.jobs import JobError
from headshot.settings import ConfigurationError
from headshot.usecases.list_styles import list_styles
from headshot.wiring import ControlPlane, control_plane

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()
plane: ControlPlane = control_plane()  # once per process: clients, table binding


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body), headers=headers
    )


def _body() -> str | bytes | None:
    # Not Powertools' decoded_body: it decodes base64 bodies as UTF-8 and raises on anything else.
    return raw_body(app.current_event.body, bool(app.current_event.is_base64_encoded))


def _owner() -> str:
    # API Gateway's JWT authorizer has verified the token; its subject is the tenant.
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ApiError(401, "unauthorized", "the token has no subject")
    return subject


def _once(owner: str, operation: str, request: BaseModel, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`call`, or with an Idempotency-Key the answer of its first run (docs/API.md)."""
    key = idempotency_key(app.current_event.headers)
    if key is None:
        return call()
    if plane.idempotency is None:
        raise ConfigurationError("the API function is built without its idempotency store")
    return plane.idempotency.once(owner, operation, key, request.model_dump(mode="json"), call)


@app.post("/v1/jobs")
@tracer.capture_method
def create_job() -> Response[str]:
    owner = _owner()
    body = parse(CreateJobBody, _body())
    created = _once(owner, "create_job", body, lambda: plane.create_job(owner, body.command()))
    metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=1)
    logger.info("job created", extra={"job_id": created["job_id"]})
    return _json(201, created)


@app.get("/v1/jobs")
@tracer.capture_method
def list_jobs() -> Response[str]:
    owner = _owner()
    limit = app.current_event.get_query_string_value("limit")
    if limit is not None and not limit.lstrip("-").isdigit():
        raise ApiError(400, "invalid_request", "limit: must be an integer")
    cursor = app.current_event.get_query_string_value("cursor")
    if limit is None:
        return _json(200, plane.list_jobs(owner, cursor=cursor))
    return _json(200, plane.list_jobs(owner, limit=int(limit), cursor=cursor))


@app.get("/v1/jobs/<job_id>")
@tracer.capture_method
def get_job(job_id: str) -> Response[str]:
    return _json(200, plane.get_job(_owner(), job_id))


@app.delete("/v1/jobs/<job_id>")
@tracer.capture_method
def delete_job(job_id: str) -> Response[str]:
    plane.delete_job(_owner(), job_id)
    logger.info("job erased", extra={"job_id": job_id})
    return Response(status_code=204, body="")


@app.delete("/v1/me")
@tracer.capture_method
def erase_me() -> Response[str]:
    erased = plane.erase_user(_owner())
    logger.info("user erased", extra={"erased_jobs": erased["erased_jobs"]})
    return _json(200, erased)


@app.post("/v1/jobs/<job_id>/cancel")
@tracer.capture_method
def cancel_job(job_id: str) -> Response[str]:
    cancelled = plane.cancel_job(_owner(), job_id)
    logger.info("job cancelled", extra={"job_id": job_id})
    return _json(200, cancelled)


@app.post("/v1/jobs/<job_id>/regenerate")
@tracer.capture_method
def regenerate(job_id: str) -> Response[str]:
    owner = _owner()
    body = parse(RegenerateBody, _body())

    def new_round() -> dict[str, Any]:
        # Only which round it started is remembered; the answer shows the job as it is now.
        return {"round": plane.regenerate(owner, job_id, body.command())["round"]}

    _once(owner, f"regenerate:{job_id}", body, new_round)
    return _json(202, plane.get_job(owner, job_id))


@app.post("/v1/jobs/<job_id>/webhook/redeliver")
@tracer.capture_method
def redeliver_webhook(job_id: str) -> Response[str]:
    queued = plane.redeliver_webhook(_owner(), job_id)
    logger.info("webhook redelivery queued", extra={"job_id": job_id, "event_id": queued["event_id"]})
    return _json(202, queued)


@app.post("/v1/webhooks/test")
@tracer.capture_method
def send_test_webhook() -> Response[str]:
    _owner()  # only an authenticated caller may make the service send requests
    sent = plane.send_test_webhook(parse(WebhookTestBody, _body()).webhook_url)
    logger.info("test webhook sent", extra={"event_id": sent["event_id"], "delivered": sent["delivered"]})
    return _json(200, sent)


@app.get("/v1/styles")
def styles() -> Response[str]:
    return _json(200, list_styles())


@app.exception_handler(JobError)  # type: ignore[untyped-decorator]
def api_error(error: JobError) -> Response[str]:
    status = status_of(error)
    if status >= 500:
        logger.exception("a domain error without an HTTP status")
        return _json(500, {"error": {"code": "internal_error", "message": "something went wrong; try again"}})
    return _json(status, {"error": {"code": error.code, "message": error.message}}, headers_of(status))


@app.not_found
def route_not_found(_: Exception) -> Response[str]:
    return _json(404, {"error": {"code": "not_found", "message": "no such route"}})


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def fault(error: Exception) -> Response[str]:
    # Logged with its stack trace for operators; the client sees a code and nothing else.
    logger.exception("unhandled error")
    return _json(500, {"error": {"code": "internal_error", "message": "something went wrong; try again"}})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if plane.idempotency is not None:
        plane.idempotency.bind_context(context)
    return app.resolve(event, context)
