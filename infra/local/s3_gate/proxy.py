"""The S3 gate: what the local stack's functions and clients reach as S3, in front of moto.

It answers as S3 would where moto is lenient and the difference matters to the pipeline:
browser uploads (POST Object) are checked against their signed policy
(:mod:`infra.local.s3_gate.policy`), anonymous requests are refused as a private bucket with
Block Public Access refuses them, and an expired presigned URL is refused. Everything else goes
to moto unchanged, and moto's answer comes back unchanged.
"""

from __future__ import annotations

import http.client
import logging
import secrets as random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from infra.local.httpserver import BackgroundServer, QuietHandler
from infra.local.s3_gate.policy import S3Error, check_upload, parse_form

__all__ = ["S3Gate"]

log = logging.getLogger(__name__)

# Hop-by-hop headers: they describe one connection, never travel through a proxy.
_HOP: Final = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class _Handler(QuietHandler):
    server_version = "AmazonS3"

    def _serve(self) -> None:
        gate: S3Gate = self.app
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            gate.admit(self.command, self.path, dict(self.headers.items()), body)
        except S3Error as refusal:
            self._answer(refusal.status, [("content-type", "application/xml")], _error_xml(refusal))
            return
        status, headers, answer = gate.forward(self.command, self.path, list(self.headers.items()), body)
        self._answer(status, headers, answer)

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        # A HEAD answer's length is the object's, not the (empty) body's: keep moto's.
        kept = _HOP | {"server", "date"} | (set() if self.command == "HEAD" else {"content-length"})
        for name, value in headers:
            if name.lower() not in kept:
                self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _serve  # noqa: N815


class S3Gate:
    """Serves S3 in front of the moto server at ``upstream`` (``http://host:port``).

    ``credentials`` maps access key ids to secret keys: the only identities the local stack has,
    used to verify upload policy signatures as S3 verifies them.
    """

    def __init__(self, upstream: str, credentials: Mapping[str, str]) -> None:
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._credentials = dict(credentials)
        self._server = BackgroundServer(_Handler, self, name="s3-gate")

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        return self._server.start(host, port)

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def admit(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise :class:`S3Error` for what S3 refuses and moto would take."""
        lowered = {k.lower(): v for k, v in headers.items()}
        path, _, query = target.partition("?")
        params = {k.lower(): v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        segments = [s for s in path.split("/") if s]
        content_type = lowered.get("content-type", "")
        if method == "POST" and len(segments) == 1 and content_type.lower().startswith("multipart/form-data"):
            check_upload(parse_form(content_type, body), segments[0], self._credentials)
            return
        if "authorization" in lowered:
            return
        if "x-amz-signature" in params:
            _check_presigned_expiry(params)
            return
        if "signature" in params:  # SigV2 query string: Expires is an epoch second
            if int(params.get("expires") or 0) < datetime.now(UTC).timestamp():
                raise S3Error(403, "AccessDenied", "Request has expired")
            return
        raise S3Error(403, "AccessDenied", "Access Denied")

    def forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=120)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP | {"content-length"}:
                    connection.putheader(name, value)
            connection.putheader("content-length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _check_presigned_expiry(params: Mapping[str, str]) -> None:
    try:
        signed = datetime.strptime(params.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params.get("x-amz-expires", ""))
    except ValueError as error:
        raise S3Error(
            400, "AuthorizationQueryParametersError", "X-Amz-Date and X-Amz-Expires must be present and valid"
        ) from error
    if signed + timedelta(seconds=expires) < datetime.now(UTC):
        raise S3Error(403, "AccessDenied", "Request has expired", {"X-Amz-Expires": str(expires)})


def _error_xml(refusal: S3Error) -> bytes:
    details = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in refusal.details.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>{details}"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId><HostId>{random.token_urlsafe(32)}</HostId></Error>"
    ).encode()
