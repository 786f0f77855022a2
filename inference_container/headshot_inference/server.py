"""The SageMaker bring-your-own-container HTTP contract, on the standard library only.

- GET /ping: 503 while the backend loads (in a background thread, so the port answers at
  once), 200 when it is ready.
- POST /invocations: the request document of docs/INFERENCE.md (whatever the Content-Type:
  SageMaker async passes the S3 object's bytes); photos are read from S3, the images are
  written to S3 and only the result manifest is returned.
- Errors are `{"error": {"code", "message"}}`: 400 for a bad request, 422 when too few
  images pass fidelity, 500 for faults (logged with their traceback, never sent).

Threads: one per connection (ThreadingHTTPServer); generations are bounded by a semaphore
(HEADSHOT_MAX_CONCURRENCY), so a second request waits instead of competing for the CPU/GPU.
Stopping (SIGTERM): stop accepting, close idle keep-alive connections, let in-flight
invocations finish and answer, then return.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from headshot.checks import PhotoChecker
from headshot.settings import ConfigurationError
from headshot.settings import get_settings as get_photo_settings
from headshot_inference.backends import Backend
from headshot_inference.content_credentials import ContentCredentials
from headshot_inference.errors import InferenceError, NotReadyError, UnprocessableError
from headshot_inference.render import render
from headshot_inference.request import InferenceRequest, S3Location
from headshot_inference.settings import ContainerSettings
from headshot_inference.signing_secret import load_content_credentials
from headshot_inference.storage import PhotoStore

log = logging.getLogger("headshot_inference.server")


class InferenceService:
    """What an invocation does, independent of HTTP."""

    def __init__(
        self, settings: ContainerSettings, backend: Backend, store_factory: Callable[[], PhotoStore] = PhotoStore
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.ready = threading.Event()
        self._store_factory = store_factory
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._checker: PhotoChecker | None = None
        self._store: PhotoStore | None = None
        self._credentials: ContentCredentials | None = None

    def load(self) -> None:
        started = time.perf_counter()
        # First: a bad signing secret stops the start in a second, before minutes of model load.
        if self.settings.c2pa_secret_arn is None and not self.settings.unsigned_outputs:
            raise ConfigurationError(
                "HEADSHOT_C2PA_SECRET_ARN is not set: every output must carry signed Content Credentials "
                "(docs/CONTENT_CREDENTIALS.md); set HEADSHOT_UNSIGNED_OUTPUTS=true to serve unsigned "
                "outputs on purpose (tests, local experiments)"
            )
        self._credentials = load_content_credentials(self.settings.c2pa_secret_arn)
        self.backend.load()
        self._checker = PhotoChecker()  # loads the dlib models once for the process
        self._store = self._store_factory()
        self.ready.set()
        log.info("backend %s ready in %.1f s", self.backend.name, time.perf_counter() - started)

    def invoke(self, body: bytes) -> dict[str, Any]:
        if not self.ready.is_set() or self._store is None:
            raise NotReadyError("not_ready", "the model is still loading; retry later")
        request = InferenceRequest.parse(body)
        log.info(
            "invocation started job_id=%s round=%d photos=%d styles=%s variants=%d",
            request.job_id,
            request.round,
            len(request.photos),
            ",".join(request.styles),
            request.variants,
        )
        with self._slots:
            return self._run(request, self._store)

    def _run(self, request: InferenceRequest, store: PhotoStore) -> dict[str, Any]:
        started = time.perf_counter()
        max_bytes = get_photo_settings().photo_limits.max_bytes
        photos = [store.read_photo(location, max_bytes) for location in request.photos]
        fetched = time.perf_counter()
        result = render(
            photos,
            request.styles,
            request.variants,
            request.seed,
            self.backend,
            names=[location.uri for location in request.photos],
            reference=request.reference,
            image_format=self.settings.output_format,
            id_prefix=f"r{request.round}-",
            checker=self._checker,
            credentials=self._credentials,
        )
        kept = result.kept
        if len(kept) < self.settings.min_images_kept:
            reasons = Counter(image.reason for image in result.images if not image.kept)
            raise UnprocessableError(
                "insufficient_fidelity",
                f"{len(kept)} of {len(result.images)} images passed the fidelity checks; "
                f"{self.settings.min_images_kept} needed",
                details={"kept": len(kept), "generated": len(result.images), "reasons": dict(reasons)},
            )
        rendered = time.perf_counter()
        keys: dict[str, str | None] = {}
        prefix = request.output_prefix
        for image in kept:
            location = S3Location(prefix.bucket, f"{prefix.key}{image.image_id}.{image.extension}")
            store.write_image(location, image.data, image.content_type)
            keys[image.image_id] = location.key
        finished = time.perf_counter()
        manifest = result.manifest(keys, job_id=request.job_id, round=request.round)
        manifest["output_bucket"] = prefix.bucket
        manifest["timings"] |= {
            "fetch_ms": round((fetched - started) * 1000, 1),
            "upload_ms": round((finished - rendered) * 1000, 1),
            "total_ms": round((finished - started) * 1000, 1),
        }
        log.info(
            "invocation finished job_id=%s kept=%d/%d in %.0f ms",
            request.job_id,
            len(kept),
            len(result.images),
            (finished - started) * 1000,
        )
        return manifest


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads are joined on close, so in-flight invocations finish before exit.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], service: InferenceService, settings: ContainerSettings) -> None:
        self.service = service
        self.settings = settings
        self.stopping = threading.Event()
        self._handlers: set[_Handler] = set()
        self._handlers_lock = threading.Lock()
        # Reads may idle for the longest invocation SageMaker allows (see settings); the
        # handler reads its socket timeout from the class, so each server gets its own.
        handler = type("_TimedHandler", (_Handler,), {"timeout": settings.socket_timeout_s})
        super().__init__(address, handler)

    def track(self, handler: _Handler, active: bool) -> None:
        with self._handlers_lock:
            (self._handlers.add if active else self._handlers.discard)(handler)

    def close_idle_connections(self) -> None:
        """Wake handlers blocked on a keep-alive read so they can end (busy ones finish first)."""
        with self._handlers_lock:
            idle = [handler for handler in self._handlers if not handler.busy]
        for handler in idle:
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive: SageMaker reuses connections
    server_version = "headshot-inference"
    sys_version = ""
    busy = False

    def setup(self) -> None:
        super().setup()
        self.server.track(self, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self, False)

    def parse_request(self) -> bool:
        # Called right after the request line arrived: from here on this connection is busy.
        self.busy = True
        return super().parse_request()

    def do_GET(self) -> None:
        try:
            if self.path == "/ping":
                self._ping()
            else:
                self._send_error(HTTPStatus.NOT_FOUND, "not_found", f"no route GET {self.path}")
        finally:
            self._done()

    def do_POST(self) -> None:
        try:
            if self.path == "/invocations":
                self._invocations()
            else:
                self._send_error(HTTPStatus.NOT_FOUND, "not_found", f"no route POST {self.path}")
        finally:
            self._done()

    def _done(self) -> None:
        self.busy = False
        if self.server.stopping.is_set():
            self.close_connection = True

    def _ping(self) -> None:
        service = self.server.service
        if service.ready.is_set():
            self._send_json(HTTPStatus.OK, {"status": "ready", "backend": service.backend.name})
        else:
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})

    def _invocations(self) -> None:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or length_header is None:
            self.close_connection = True
            self._send_error(HTTPStatus.LENGTH_REQUIRED, "length_required", "send the body with a Content-Length")
            return
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send_error(HTTPStatus.BAD_REQUEST, "invalid_request", "bad Content-Length")
            return
        if length > self.server.settings.max_request_bytes:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request_too_large", "the request body is too large")
            return
        body = self.rfile.read(length)
        try:
            manifest = self.server.service.invoke(body)
        except InferenceError as error:
            log.warning("invocation refused: %s %s", error.status, error)
            self._send_json(error.status, error.body())
            return
        except Exception:
            error_id = uuid.uuid4().hex
            log.exception("invocation failed (error_id=%s)", error_id)
            self._send_error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal_error",
                f"the inference failed; see the container log for error_id {error_id}",
            )
            return
        self._send_json(HTTPStatus.OK, manifest)

    def _send_error(self, status: HTTPStatus, code: str, message: str) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}})

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # SageMaker pings every few seconds: keep those out of the log unless debugging.
        level = logging.DEBUG if self.path == "/ping" else logging.INFO
        log.log(level, "%s %s", self.address_string(), format % args)


class InferenceServer:
    """The HTTP server, its background model load and its graceful stop."""

    def __init__(
        self, settings: ContainerSettings, backend: Backend, *, store_factory: Callable[[], PhotoStore] = PhotoStore
    ) -> None:
        self.service = InferenceService(settings, backend, store_factory)
        self.httpd = _HTTPServer((settings.host, settings.port), self.service, settings)
        self.exit_code = 0
        self._stop_lock = threading.Lock()
        self._stop_started = False
        self._closed = threading.Event()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def run(self) -> int:
        """Serve until stopped; returns the process exit code (1 when the model failed to load)."""
        threading.Thread(target=self._load, name="backend-load", daemon=True).start()
        log.info("listening on %s:%d (backend %s)", self.httpd.server_address[0], self.port, self.service.backend.name)
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            if not self._stop_started:
                self.stop()
        self._closed.wait()
        log.info("stopped")
        return self.exit_code

    def request_stop(self, exit_code: int = 0) -> None:
        """Stop from any thread, signal handlers included (stop() itself blocks until done)."""
        if exit_code:
            self.exit_code = exit_code
        threading.Thread(target=self.stop, name="stop", daemon=True).start()

    def stop(self) -> None:
        with self._stop_lock:
            if self._stop_started:
                return
            self._stop_started = True
        log.info("stopping: finishing in-flight invocations")
        self.httpd.stopping.set()
        self.httpd.shutdown()  # returns once serve_forever has left its loop: nothing new is accepted
        self.httpd.close_idle_connections()
        self.httpd.server_close()  # joins the handler threads
        self._closed.set()

    def _load(self) -> None:
        try:
            self.service.load()
        except Exception:
            log.exception("loading the %s backend failed; exiting", self.service.backend.name)
            self.request_stop(exit_code=1)
