"""Lambda proxy payload format 2.0 both ways: the event API Gateway builds, and how it maps the result back."""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from infra.local.apigw.routes import DEFAULT_ROUTE, Route

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_API_ID",
    "HttpResponse",
    "MalformedResponseError",
    "api_event",
    "flatten_claims",
    "from_lambda",
    "gateway_error",
    "new_request_id",
    "strip_stage",
]

DEFAULT_API_ID: Final = "local"
DEFAULT_ACCOUNT_ID: Final = "123456789012"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Request bodies of these content types reach the function as text; every other body as base64.
_TEXT_TYPES: Final = frozenset({"application/json", "application/xml", "application/javascript"})
# Headers the emulator computes itself on the way back.
_HOP_BY_HOP: Final = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"})


def _claim_text(value: Any) -> str:
    # API Gateway hands every claim to the function as a string; arrays as "[a b]", objects as "map[k:v]".
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_claim_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """JWT claims as ``requestContext.authorizer.jwt.claims`` carries them: every value a string."""
    return {name: _claim_text(value) for name, value in claims.items()}


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def new_request_id() -> str:
    return base64.b64encode(os.urandom(11)).decode("ascii")


def _clf_time(epoch_s: float) -> str:
    t = time.gmtime(epoch_s)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def api_event(
    method: str,
    path: str,
    route: Route,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | str | None,
    claims: Mapping[str, Any] | None,
    source_ip: str,
    *,
    stage: str = "$default",
    api_id: str = DEFAULT_API_ID,
    account_id: str = DEFAULT_ACCOUNT_ID,
    request_id: str | None = None,
    protocol: str = "HTTP/1.1",
    now: float | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends for this request (what the emulator sends, too).

    ``path`` is the request target as the client sent it: raw path (with ``/{stage}`` in front for a named
    stage) and optional ``?query``. ``headers`` may repeat names (pairs) or not (a mapping). ``claims`` are the
    verified token's claims (None: a route without authorizer). Raises ValueError if ``route`` does not take
    ``method path``.
    """
    method = method.upper()
    raw_path, _, raw_query = path.partition("?")
    route_path = strip_stage(raw_path, stage)
    parameters = route.match(method, route_path) if route_path is not None else None
    if parameters is None:
        raise ValueError(f"route {route.route_key!r} does not take {method} {raw_path} (stage {stage!r})")

    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    host = merged.get("host", "localhost")
    domain_name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    port = host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else "80"
    merged["x-forwarded-for"] = (
        f"{merged['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in merged else source_ip
    )
    merged.setdefault("x-forwarded-port", port)
    merged.setdefault("x-forwarded-proto", "http")
    epoch = time.time() if now is None else now
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(epoch):08x}-{os.urandom(12).hex()}")

    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    if query:
        event["queryStringParameters"] = query
    if parameters:
        event["pathParameters"] = parameters
    context: dict[str, Any] = {"accountId": account_id, "apiId": api_id}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": flatten_claims(claims), "scopes": None}}
    context |= {
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id or new_request_id(),
        "routeKey": route.route_key,
        "stage": stage,
        "time": _clf_time(epoch),
        "timeEpoch": int(epoch * 1000),
    }
    event["requestContext"] = context
    data = body.encode("utf-8") if isinstance(body, str) else body
    if data:
        text: str | None = None
        if _is_text(merged.get("content-type")):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(data).decode("ascii")
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def strip_stage(raw_path: str, stage: str) -> str | None:
    if stage == DEFAULT_ROUTE:
        return raw_path or "/"
    prefix = f"/{stage}"
    if raw_path == prefix:
        return "/"
    if raw_path.startswith(prefix + "/"):
        return raw_path[len(prefix) :]
    return None


class MalformedResponseError(ValueError):
    """A function result API Gateway would answer with 500."""


@dataclass
class HttpResponse:
    """What goes back to the client: status, headers in order (repeats allowed), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(status: int, message: str, *extra: tuple[str, str]) -> HttpResponse:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, [("content-type", "application/json"), *extra], body)


def from_lambda(result: Any) -> HttpResponse:
    """Map a function's result onto HTTP as API Gateway does for payload format 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # The "simple response": no statusCode means 200 with the result as JSON.
        return HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponseError(f"statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers.append((str(name), _header_text(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers.extend((str(name), _header_text(v)) for v in (values if isinstance(values, list) else [values]))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponseError("cookies must be a list")
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    raw = result.get("body")
    if raw is None:
        data = b""
    elif not isinstance(raw, str):
        raise MalformedResponseError("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise MalformedResponseError("body is not valid base64") from None
    else:
        data = raw.encode("utf-8")
    if data and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "text/plain; charset=utf-8"))
    return HttpResponse(status, headers, data)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
