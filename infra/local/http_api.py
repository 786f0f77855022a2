"""API Gateway HTTP API emulator (Lambda proxy payload format 2.0) with a JWT authorizer, for the local stack.

Serves a template's ``HttpApi`` routes over real HTTP on a threaded stdlib server and hands each request to a
function as the v2.0 event API Gateway would build, then maps the function's response back the way API
Gateway does. What it reproduces:

* Routing: ``METHOD /path/{param}`` and greedy ``{name+}`` routes, ``ANY`` and the ``$default`` route; the most
  specific route wins (literal segment > ``{param}`` > ``{greedy+}``, a named method > ``ANY``); no match, or a
  path that matches with another method only, is ``404 {"message":"Not Found"}``. With a named stage the URL
  (and ``rawPath``) carries ``/{stage}`` in front, as on AWS.
* The JWT authorizer (``$request.header.Authorization``; the token alone or after ``Bearer``): the route is
  checked first, then the token; a missing or invalid token is ``401 {"message":"Unauthorized"}`` with a
  ``www-authenticate`` header in API Gateway's words, and the function is not invoked.
* The event: ``version``, ``routeKey``, ``rawPath``, ``rawQueryString``, ``cookies`` (the cookie header moves
  there), ``headers`` (lower-cased, duplicates comma-joined, plus ``x-forwarded-*`` and ``x-amzn-trace-id``),
  ``queryStringParameters`` (duplicates comma-joined), ``pathParameters``, ``requestContext`` (with
  ``authorizer.jwt.claims`` flattened to strings and ``scopes: null``), ``body`` and ``isBase64Encoded`` (text
  content types as text, every other body base64). Keys API Gateway leaves out when empty are left out.
* Request bodies over 10 MB are ``413``; a function that raises, or returns something malformed, is
  ``500 {"message":"Internal Server Error"}`` (the trace goes to this module's logger, never to the client).
* The response: ``statusCode``, ``headers``, ``multiValueHeaders``, ``cookies`` (each a ``Set-Cookie``),
  ``body`` (base64-decoded when ``isBase64Encoded``); a result without ``statusCode`` is API Gateway's
  "simple response": ``200`` with the result as a JSON body. Every response carries ``apigw-requestid``.

Not emulated: throttling, CORS, scopes, Lambda authorizers, mutual TLS, parameter mapping.

Tokens (:class:`LocalJwt`) are RS256 with a locally generated 2048-bit RSA key, the only kind of key an API
Gateway JWT authorizer accepts; ``LocalJwt.key`` is that private key, PEM (PKCS#8), and the token header's
``kid`` is the key's RFC 7638 thumbprint (:meth:`LocalJwt.jwks` publishes the public half). Only the
``cryptography`` package is needed (a dependency of moto, hence of the ``local`` extra).

A handler module keeps per-invocation state in module globals (Powertools' ``app.current_event``), so by
default one request at a time runs per function, as in a single Lambda execution environment; requests to
different functions run in parallel.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_API_ID",
    "MAX_PAYLOAD_BYTES",
    "HttpApiEmulator",
    "InvalidToken",
    "Invoke",
    "LocalJwt",
    "Route",
    "api_event",
    "flatten_claims",
    "match_route",
    "routes_from_template",
]

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
DEFAULT_API_ID: Final = "local"
DEFAULT_ACCOUNT_ID: Final = "123456789012"

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``(function logical id, v2.0 event) -> Lambda proxy response``; raising means the invocation failed."""

_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
_DEFAULT_ROUTE: Final = "$default"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Request bodies of these content types reach the function as text; every other body as base64.
_TEXT_TYPES: Final = frozenset({"application/json", "application/xml", "application/javascript"})
# Headers the emulator computes itself on the way back.
_HOP_BY_HOP: Final = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"})


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    """One HTTP API route. ``path`` uses API Gateway's syntax (``/v1/jobs/{job_id}``, ``/{proxy+}``, ``$default``).

    ``requires_jwt`` is False only for a route whose event sets ``Auth: {Authorizer: NONE}``.
    """

    method: str
    path: str
    function: str
    requires_jwt: bool = True

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"route method must be one of {sorted(_METHODS)}, not {self.method!r}")
        if self.path == _DEFAULT_ROUTE:
            return
        if not self.path.startswith("/"):
            raise ValueError(f"route path must start with '/': {self.path!r}")
        segments = _segments(self.path)
        for index, segment in enumerate(segments):
            if segment.endswith("+}") and index != len(segments) - 1:
                raise ValueError(f"a greedy path variable must be the last segment: {self.path!r}")

    @property
    def route_key(self) -> str:
        """API Gateway's route key: ``"GET /v1/jobs/{job_id}"``, or ``"$default"``."""
        return _DEFAULT_ROUTE if self.path == _DEFAULT_ROUTE else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters (URL-decoded) if this route takes ``method path``; else None."""
        if self.path == _DEFAULT_ROUTE:
            return {}
        if self.method not in ("ANY", method):
            return None
        pattern, actual = _segments(self.path), _segments(path)
        parameters: dict[str, str] = {}
        for index, segment in enumerate(pattern):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = actual[index:]
                if not rest or not any(rest):
                    return None
                parameters[segment[1:-2]] = unquote("/".join(rest))
                return parameters
            if index >= len(actual):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not actual[index]:
                    return None
                parameters[segment[1:-1]] = unquote(actual[index])
            elif segment != actual[index]:
                return None
        return parameters if len(actual) == len(pattern) else None

    def _specificity(self) -> tuple[tuple[int, ...], int]:
        # Lower sorts first and wins: literal 0 < {param} 1 < {greedy+} 2, position by position; ANY after a method.
        if self.path == _DEFAULT_ROUTE:
            return (3,), 1
        kinds = tuple(
            (2 if s.endswith("+}") else 1) if s.startswith("{") and s.endswith("}") else 0 for s in _segments(self.path)
        )
        return kinds, int(self.method == "ANY")


def _segments(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def match_route(routes: Iterable[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway picks for ``method path`` (the path without a stage prefix or query string)."""
    best: tuple[Route, dict[str, str]] | None = None
    for route in routes:
        parameters = route.match(method, path)
        if parameters is not None and (best is None or route._specificity() < best[0]._specificity()):
            best = (route, parameters)
    return best


def routes_from_template(template: dict[str, Any], *, api: str | None = None) -> list[Route]:
    """The HTTP API routes of every ``AWS::Serverless::Function`` event of ``Type: HttpApi``, in template order.

    ``template`` is what ``infra.template_loader.load_template`` returns. ``api`` (an ``AWS::Serverless::HttpApi``
    logical id) keeps the routes of that API only. An event's ``Auth.Authorizer`` (else its API's
    ``Auth.DefaultAuthorizer``, else ``Globals.HttpApi``'s) decides ``requires_jwt``; ``NONE`` or no authorizer
    means an open route. Only payload format 2.0 is served.
    """
    resources: dict[str, Any] = template.get("Resources", {})
    global_auth = template.get("Globals", {}).get("HttpApi", {}).get("Auth", {})
    routes: list[Route] = []
    seen: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties") or {}
            api_ref = properties.get("ApiId")
            api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else api_ref
            if api is not None and api_id != api:
                continue
            if str(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
                raise ValueError(f"{logical_id}.{event_name}: only payload format 2.0 is emulated")
            api_auth = (
                resources.get(api_id, {}).get("Properties", {}).get("Auth", global_auth)
                if isinstance(api_id, str)
                else global_auth
            )
            authorizer = (properties.get("Auth") or {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
            method, path = properties.get("Method"), properties.get("Path")
            if not (method is None or isinstance(method, str)) or not (path is None or isinstance(path, str)):
                raise ValueError(f"{logical_id}.{event_name}: Method and Path must be plain strings")
            route = Route(
                method=(method or "ANY").upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"),
                path=path or _DEFAULT_ROUTE,
                function=logical_id,
                requires_jwt=authorizer not in (None, "NONE"),
            )
            if route.route_key in seen:
                raise ValueError(f"route {route.route_key!r} is declared twice ({seen[route.route_key]}, {logical_id})")
            seen[route.route_key] = logical_id
            routes.append(route)
    return routes


# --------------------------------------------------------------------------- JWT


class InvalidToken(ValueError):  # noqa: N818 - the interface's name
    """A JWT the authorizer refuses; ``description`` is what goes into ``www-authenticate``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise InvalidToken("the token is malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("the token is malformed") from None


def _json_object(segment: str) -> dict[str, Any]:
    raw = _b64url_decode(segment)
    try:
        value = json.loads(raw)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both
        raise InvalidToken("the token is malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken("the token is malformed")
    return value


@lru_cache(maxsize=16)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("LocalJwt.key must be an RSA private key (PEM)")
    return key


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class LocalJwt:
    """The local identity provider and the authorizer's configuration: RS256 tokens signed with ``key``.

    ``key`` is a PEM (PKCS#8) RSA private key; keep it out of logs (it is left out of ``repr``).
    """

    issuer: str
    audience: str
    key: str = field(repr=False)

    @classmethod
    def generate(cls, issuer: str = "https://headshot.local/", audience: str = "headshot-local") -> LocalJwt:
        """A fresh 2048-bit RSA key for ``issuer``/``audience``."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return cls(issuer=issuer, audience=audience, key=pem)

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (``kty``, ``n``, ``e``, ``kid``, ``alg``, ``use``)."""
        numbers = _private_key(self.key).public_key().public_numbers()
        n = _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        e = _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
        # RFC 7638 thumbprint: the required members, sorted, no whitespace.
        thumbprint = _b64url(
            hashlib.sha256(json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":")).encode()).digest()
        )
        return {"kty": "RSA", "n": n, "e": e, "kid": thumbprint, "alg": "RS256", "use": "sig"}

    @property
    def key_id(self) -> str:
        """The ``kid`` of every token this key signs."""
        return self.public_jwk()["kid"]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document an OpenID provider would publish for this key."""
        return {"keys": [self.public_jwk()]}

    def token(self, sub: str, ttl_s: int = 3600, **claims: Any) -> str:
        """A signed token for ``sub`` valid ``ttl_s`` seconds (negative: already expired).

        ``claims`` add to or override ``iss``, ``aud``, ``sub``, ``iat``, ``exp`` (e.g. ``aud="someone-else"``).
        """
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + ttl_s} | claims
        return self._sign({"alg": "RS256", "typ": "JWT", "kid": self.key_id}, payload)

    def _sign(self, header: dict[str, Any], payload: dict[str, Any]) -> str:
        compact = (
            json.dumps(header, separators=(",", ":")).encode(),
            json.dumps(payload, separators=(",", ":")).encode(),
        )
        signing_input = f"{_b64url(compact[0])}.{_b64url(compact[1])}"
        signature = _private_key(self.key).sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, checked as API Gateway's JWT authorizer checks them (and ``sub`` must be set).

        Raises :class:`InvalidToken` for a malformed token, another algorithm than RS256, an unknown ``kid``, a
        bad signature, another issuer, no matching ``aud`` (or ``client_id`` when there is no ``aud``), a missing
        or past ``exp``, a future ``nbf`` or ``iat``, or a missing/empty ``sub``.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("token contains an invalid number of segments")
        header, claims = _json_object(parts[0]), _json_object(parts[1])
        if header.get("alg") != "RS256":
            raise InvalidToken(f"signing method {header.get('alg')} is invalid")
        if header.get("kid") != self.key_id:
            raise InvalidToken("the key id of the token is not in the authorizer's JWKS")
        try:
            _private_key(self.key).public_key().verify(
                _b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise InvalidToken("the token signature is invalid") from None
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token does not have a valid issuer")
        audience = claims["aud"] if "aud" in claims else claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise InvalidToken("the token does not have a valid audience")
        now = time.time()
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise InvalidToken("the token has no expiry")
        if now >= expires:
            raise InvalidToken("the token has expired")
        for name in ("nbf", "iat"):
            if name in claims and (not _is_number(claims[name]) or claims[name] > now):
                raise InvalidToken(f"the token's {name} claim is in the future")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token has no subject")
        return claims

    def to_json(self) -> dict[str, str]:
        """``{"issuer", "audience", "key"}``: everything another process needs to mint or check tokens."""
        return {"issuer": self.issuer, "audience": self.audience, "key": self.key}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> LocalJwt:
        """The inverse of :meth:`to_json`."""
        jwt = cls(issuer=data["issuer"], audience=data["audience"], key=data["key"])
        _private_key(jwt.key)  # fail now on a bad key
        return jwt


# --------------------------------------------------------------------------- events


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


def _request_id() -> str:
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
    route_path = _strip_stage(raw_path, stage)
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
        "requestId": request_id or _request_id(),
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


def _strip_stage(raw_path: str, stage: str) -> str | None:
    if stage == _DEFAULT_ROUTE:
        return raw_path or "/"
    prefix = f"/{stage}"
    if raw_path == prefix:
        return "/"
    if raw_path.startswith(prefix + "/"):
        return raw_path[len(prefix) :]
    return None


# --------------------------------------------------------------------------- responses


class _MalformedResponseError(ValueError):
    pass


@dataclass
class _HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _gateway_error(status: int, message: str, *extra: tuple[str, str]) -> _HttpResponse:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return _HttpResponse(status, [("content-type", "application/json"), *extra], body)


def _from_lambda(result: Any) -> _HttpResponse:
    """Map a function's result onto HTTP as API Gateway does for payload format 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # The "simple response": no statusCode means 200 with the result as JSON.
        return _HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise _MalformedResponseError(f"statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers.append((str(name), _header_text(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers.extend((str(name), _header_text(v)) for v in (values if isinstance(values, list) else [values]))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise _MalformedResponseError("cookies must be a list")
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    raw = result.get("body")
    if raw is None:
        data = b""
    elif not isinstance(raw, str):
        raise _MalformedResponseError("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise _MalformedResponseError("body is not valid base64") from None
    else:
        data = raw.encode("utf-8")
    if data and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "text/plain; charset=utf-8"))
    return _HttpResponse(status, headers, data)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: HttpApiEmulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "headshot-local-apigw"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def _serve(self) -> None:
        emulator = cast(_Server, self.server).emulator
        request_id = _request_id()
        try:
            response = emulator._respond(self, request_id)
        except Exception:
            logger.exception("http api emulator: request %s failed", request_id)
            response = _gateway_error(500, "Internal Server Error")
        self._send(response, request_id)

    def _send(self, response: _HttpResponse, request_id: str) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("apigw-requestid", request_id)
        no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        self.send_header("content-length", "0" if no_body and self.command != "HEAD" else str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if not no_body:
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()


class HttpApiEmulator:
    """Serves ``routes`` over HTTP as API Gateway would, calling ``invoke(function, event)`` for each request.

    ``jwt`` is both the authorizer's configuration (issuer, audience) and its key. ``stage`` other than
    ``$default`` puts ``/{stage}`` in front of every path. ``serialize`` runs one request at a time per
    function (see the module docstring).
    """

    def __init__(
        self,
        routes: list[Route],
        invoke: Invoke,
        jwt: LocalJwt,
        *,
        stage: str = "$default",
        api_id: str = DEFAULT_API_ID,
        account_id: str = DEFAULT_ACCOUNT_ID,
        serialize: bool = True,
    ) -> None:
        keys = [route.route_key for route in routes]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate routes: {duplicates}")
        if not stage or "/" in stage:
            raise ValueError(f"invalid stage name {stage!r}")
        self.routes = list(routes)
        self.invoke = invoke
        self.jwt = jwt
        self.stage = stage
        self.api_id = api_id
        self.account_id = account_id
        self._serialize = serialize
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) in a background thread; return the base URL."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server((host, port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="http-api-emulator", daemon=True
        )
        self._thread.start()
        logger.info("http api emulator on %s (%d routes)", self.url, len(self.routes))
        return self.url

    def stop(self) -> None:
        """Stop listening and wait for the server thread; a no-op when not running."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``http://host:port`` (``/{stage}`` appended for a named stage)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        base = f"http://{host_text}:{port}"
        return base if self.stage == _DEFAULT_ROUTE else f"{base}/{self.stage}"

    def __enter__(self) -> HttpApiEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- one request

    def _respond(self, request: _Handler, request_id: str) -> _HttpResponse:
        body = self._read_body(request)
        if isinstance(body, _HttpResponse):
            return body
        target = request.path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            split = urlsplit(target)
            target = split.path + (f"?{split.query}" if split.query else "")
        raw_path = target.partition("?")[0]
        route_path = _strip_stage(raw_path, self.stage)
        found = match_route(self.routes, request.command, route_path) if route_path is not None else None
        if found is None:
            return _gateway_error(404, "Not Found")
        route = found[0]

        claims: dict[str, Any] | None = None
        if route.requires_jwt:
            authorization = request.headers.get("Authorization")
            if not authorization or not authorization.strip():
                return _gateway_error(401, "Unauthorized", ("www-authenticate", "Bearer"))
            token = authorization.strip()
            if token[:7].lower() == "bearer ":
                token = token[7:].strip()
            try:
                claims = self.jwt.verify(token)
            except InvalidToken as error:
                challenge = f'Bearer scope="" error="invalid_token" error_description="{error.description}"'
                return _gateway_error(401, "Unauthorized", ("www-authenticate", challenge))

        event = api_event(
            request.command,
            target,
            route,
            list(request.headers.items()),
            body,
            claims,
            request.client_address[0],
            stage=self.stage,
            api_id=self.api_id,
            account_id=self.account_id,
            request_id=request_id,
            protocol=request.request_version,
        )
        try:
            with self._lock_for(route.function):
                result = self.invoke(route.function, event)
            return _from_lambda(result)
        except Exception:
            # API Gateway logs nothing of the function's error to the client; the operator sees it here.
            logger.exception("http api emulator: %s (%s) failed", route.function, route.route_key)
            return _gateway_error(500, "Internal Server Error")

    def _lock_for(self, function: str) -> threading.Lock | _NoLock:
        if not self._serialize:
            return _NoLock()
        with self._locks_guard:
            return self._locks.setdefault(function, threading.Lock())

    @staticmethod
    def _read_body(request: _Handler) -> bytes | _HttpResponse:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return HttpApiEmulator._read_chunked(request)
        length_text = request.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            request.close_connection = True
            return _gateway_error(400, "Bad Request")
        if length > MAX_PAYLOAD_BYTES:
            request.close_connection = True  # the unread body must not be taken for the next request
            return _gateway_error(413, "Request Entity Too Large")
        return request.rfile.read(length)

    @staticmethod
    def _read_chunked(request: _Handler) -> bytes | _HttpResponse:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = request.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                request.close_connection = True
                return _gateway_error(400, "Bad Request")
            if size == 0:
                while request.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                request.close_connection = True
                return _gateway_error(413, "Request Entity Too Large")
            chunks.append(request.rfile.read(size))
            request.rfile.readline(1024)  # CRLF after the chunk


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
