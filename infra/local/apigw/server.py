"""The HTTP API emulator: routes each request, runs the JWT authorizer, invokes the function, answers as API Gateway."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from infra.local.apigw.jwt import InvalidToken, LocalJwt
from infra.local.apigw.payload import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_API_ID,
    HttpResponse,
    api_event,
    from_lambda,
    gateway_error,
    new_request_id,
    strip_stage,
)
from infra.local.apigw.routes import DEFAULT_ROUTE, Route, match_route
from infra.local.httpserver import BackgroundServer, QuietHandler

__all__ = ["MAX_PAYLOAD_BYTES", "HttpApiEmulator", "Invoke"]

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``(function logical id, v2.0 event) -> Lambda proxy response``; raising means the invocation failed."""


class _Handler(QuietHandler):
    server_version = "headshot-local-apigw"

    def _serve(self) -> None:
        emulator: HttpApiEmulator = self.app
        request_id = new_request_id()
        try:
            response = emulator._respond(self, request_id)
        except Exception:
            logger.exception("http api emulator: request %s failed", request_id)
            response = gateway_error(500, "Internal Server Error")
        self._send(response, request_id)

    def _send(self, response: HttpResponse, request_id: str) -> None:
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

    # Every method goes through routing: API Gateway answers unknown ones with its own 404.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815


class HttpApiEmulator:
    """Serves ``routes`` over HTTP as API Gateway would, calling ``invoke(function, event)`` for each request.

    ``jwt`` is both the authorizer's configuration (issuer, audience) and its key. ``stage`` other than
    ``$default`` puts ``/{stage}`` in front of every path. ``serialize`` runs one request at a time per
    function (see the package docstring).
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
        self._background = BackgroundServer(_Handler, self, name="http-api-emulator")

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) in a background thread; return the base URL."""
        if self._background.running:
            raise RuntimeError("the emulator is already running")
        self._background.start(host, port)
        logger.info("http api emulator on %s (%d routes)", self.url, len(self.routes))
        return self.url

    def stop(self) -> None:
        """Stop listening and wait for the server thread; a no-op when not running."""
        self._background.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` (``/{stage}`` appended for a named stage)."""
        if not self._background.running:
            raise RuntimeError("the emulator is not running")
        base = self._background.url
        return base if self.stage == DEFAULT_ROUTE else f"{base}/{self.stage}"

    def __enter__(self) -> HttpApiEmulator:
        if not self._background.running:
            self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- one request

    def _respond(self, request: _Handler, request_id: str) -> HttpResponse:
        body = self._read_body(request)
        if isinstance(body, HttpResponse):
            return body
        target = request.path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            split = urlsplit(target)
            target = split.path + (f"?{split.query}" if split.query else "")
        raw_path = target.partition("?")[0]
        route_path = strip_stage(raw_path, self.stage)
        found = match_route(self.routes, request.command, route_path) if route_path is not None else None
        if found is None:
            return gateway_error(404, "Not Found")
        route = found[0]

        claims: dict[str, Any] | None = None
        if route.requires_jwt:
            authorization = request.headers.get("Authorization")
            if not authorization or not authorization.strip():
                return gateway_error(401, "Unauthorized", ("www-authenticate", "Bearer"))
            token = authorization.strip()
            if token[:7].lower() == "bearer ":
                token = token[7:].strip()
            try:
                claims = self.jwt.verify(token)
            except InvalidToken as error:
                challenge = f'Bearer scope="" error="invalid_token" error_description="{error.description}"'
                return gateway_error(401, "Unauthorized", ("www-authenticate", challenge))

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
            return from_lambda(result)
        except Exception:
            # API Gateway logs nothing of the function's error to the client; the operator sees it here.
            logger.exception("http api emulator: %s (%s) failed", route.function, route.route_key)
            return gateway_error(500, "Internal Server Error")

    def _lock_for(self, function: str) -> threading.Lock | _NoLock:
        if not self._serialize:
            return _NoLock()
        with self._locks_guard:
            return self._locks.setdefault(function, threading.Lock())

    @staticmethod
    def _read_body(request: _Handler) -> bytes | HttpResponse:
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
            return gateway_error(400, "Bad Request")
        if length > MAX_PAYLOAD_BYTES:
            request.close_connection = True  # the unread body must not be taken for the next request
            return gateway_error(413, "Request Entity Too Large")
        return request.rfile.read(length)

    @staticmethod
    def _read_chunked(request: _Handler) -> bytes | HttpResponse:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = request.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                request.close_connection = True
                return gateway_error(400, "Bad Request")
            if size == 0:
                while request.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                request.close_connection = True
                return gateway_error(413, "Request Entity Too Large")
            chunks.append(request.rfile.read(size))
            request.rfile.readline(1024)  # CRLF after the chunk


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
