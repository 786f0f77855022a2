"""Webhooks: signatures, URL and address policy (SSRF), pinned delivery, backoff.

Delivery runs against a real plain-HTTP server on 127.0.0.1 (the local-stack exemption); the
HTTPS path is checked by recording what the connection hands to the socket and TLS layers.
No network beyond loopback; DNS is a fake resolver function passed in.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from headshot import webhooks
from headshot.webhooks import (
    SQS_MAX_VISIBILITY_S,
    DeliveryResult,
    ParsedTarget,
    PinnedHTTPSConnection,
    WebhookErrorCode,
    WebhookEventType,
    WebhookPolicy,
    WebhookUrlError,
    address_problem,
    build_event,
    deliver,
    parse_allowed_hosts,
    resolve_target,
    retry_delay_seconds,
    signing_keys,
    validate_url,
    verify,
)

SECRET = "whsec_" + base64.b64encode(b"s3cr3t-key-for-tests-32-bytes!!!").decode()

AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]


# Signatures (Standard Webhooks) are tested in test_webhook_signing.py.


# --------------------------------------------------------------------------- URL policy and SSRF


def make_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> webhooks.Resolver:
    """A getaddrinfo stand-in answering from ``table`` (the DNS an attacker might control)."""

    def resolve(host: str, port: int, family: int = 0, socktype: int = 0, /) -> list[AddrInfo]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out: list[AddrInfo] = []
        for addr in table[host]:
            if ":" in addr:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port)))
        return out

    return resolve


PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

POLICY = WebhookPolicy(
    frozenset(
        {
            "hooks.example.com",
            "localhost",
            "internal.example.com",
            "mixed.example.com",
            "mapped.example.com",
            "nat64.example.com",
            "sixtofour.example.com",
            "teredo.example.com",
            "metadata6.example.com",
            "scoped.example.com",
            "weird.example.com",
            "*.example.org",
        }
    )
)
DNS = {
    "hooks.example.com": [PUBLIC_V4, PUBLIC_V6],
    "a.example.org": [PUBLIC_V4],
    "localhost": ["127.0.0.1"],
    "internal.example.com": ["10.1.2.3"],
    "mixed.example.com": [PUBLIC_V4, "10.0.0.1"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "nat64.example.com": ["64:ff9b::a00:1"],  # NAT64 of 10.0.0.1
    "sixtofour.example.com": ["2002:c0a8:101::1"],  # 6to4 of 192.168.1.1
    "teredo.example.com": ["2001:0:808:808:0:0:f5ff:fffe"],  # Teredo, client 10.0.0.1 (obfuscated)
    "metadata6.example.com": ["fd00:ec2::254"],
    "scoped.example.com": ["fe80::1%eth0"],
    "weird.example.com": ["0177.0.0.1"],  # a broken resolver echoing a non-canonical form
}

LITERAL = WebhookErrorCode.IP_LITERAL_NOT_ALLOWED
ADDRESS = WebhookErrorCode.ADDRESS_NOT_ALLOWED

SSRF_CASES = [
    ("https://127.0.0.1/", LITERAL),
    ("https://localhost/", ADDRESS),  # on the allow-list, but resolves to loopback
    ("https://10.0.0.5/", LITERAL),
    ("https://172.16.0.1/", LITERAL),
    ("https://192.168.1.1/", LITERAL),
    ("https://100.64.0.1/", LITERAL),
    ("https://169.254.169.254/latest/meta-data/", LITERAL),
    ("https://[::1]/", LITERAL),
    ("https://[fd00:ec2::254]/", LITERAL),
    ("https://[fc00::1]/", LITERAL),
    ("https://[fe80::1]/", LITERAL),
    ("https://[::ffff:127.0.0.1]/", LITERAL),
    ("https://[::ffff:7f00:1]/", LITERAL),
    ("https://2130706433/", LITERAL),
    ("https://0x7f000001/", LITERAL),
    ("https://0177.0.0.1/", LITERAL),
    ("https://127.1/", LITERAL),
    ("https://0.0.0.0/", LITERAL),
    ("https://127.0.0.1./", LITERAL),
    ("https://0x7f.1/", LITERAL),
    ("https://internal.example.com/", ADDRESS),  # allowed name -> 10.1.2.3
    ("https://mixed.example.com/", ADDRESS),  # [public, private]: any private refuses
    ("https://mapped.example.com/", ADDRESS),
    ("https://nat64.example.com/", ADDRESS),
    ("https://sixtofour.example.com/", ADDRESS),
    ("https://teredo.example.com/", ADDRESS),
    ("https://metadata6.example.com/", ADDRESS),
    ("https://scoped.example.com/", ADDRESS),
    ("https://weird.example.com/", ADDRESS),
    ("http://hooks.example.com/", WebhookErrorCode.SCHEME_NOT_ALLOWED),
    ("ftp://hooks.example.com/", WebhookErrorCode.SCHEME_NOT_ALLOWED),
    ("https://user:pw@hooks.example.com/", WebhookErrorCode.USERINFO_NOT_ALLOWED),
    ("https://hooks.example.com@evil.example.net/", WebhookErrorCode.USERINFO_NOT_ALLOWED),
    ("https://evil.example.net/", WebhookErrorCode.HOST_NOT_ALLOWED),
    ("https://hooks.example.com.evil.example.net/", WebhookErrorCode.HOST_NOT_ALLOWED),
    ("https://example.org/", WebhookErrorCode.HOST_NOT_ALLOWED),  # wildcard is subdomains only
    ("https://evilexample.org/", WebhookErrorCode.HOST_NOT_ALLOWED),
    ("https://hooks.example.com\\@evil.example.net/", WebhookErrorCode.INVALID_URL),
    ("https://%31%32%37.0.0.1/", LITERAL),  # last label numeric: an IPv4 literal, WHATWG-style
    ("https://hööks.example.com/", WebhookErrorCode.INVALID_URL),
    ("https://hooks.example.com:0/", WebhookErrorCode.INVALID_URL),
    ("https://hooks.example.com:99999/", WebhookErrorCode.INVALID_URL),
    ("https:///path", WebhookErrorCode.INVALID_URL),
    ("https://hooks.example.com/ x", WebhookErrorCode.INVALID_URL),
]


def _check(url: str, policy: WebhookPolicy = POLICY) -> tuple[Any, ...]:
    return resolve_target(validate_url(url, policy), policy, make_resolver(DNS))


@pytest.mark.parametrize(("url", "code"), SSRF_CASES, ids=[c[0] for c in SSRF_CASES])
def test_ssrf_table_refused_before_any_connection(
    url: str, code: WebhookErrorCode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a socket layer that fails the test if anything connects
    connects: list[object] = []

    def no_connect(*args: object, **kwargs: object) -> socket.socket:
        connects.append(args)
        raise AssertionError("must not connect")

    monkeypatch.setattr(socket, "create_connection", no_connect)
    # When the URL is checked, and when a delivery to it is attempted
    with pytest.raises(WebhookUrlError) as info:
        _check(url)
    result = deliver(url, b"{}", {}, POLICY, resolver=make_resolver(DNS))
    # Then both refuse it with the expected code, permanently, and nothing connected
    assert info.value.code == code
    assert result == DeliveryResult(False, None, code, False, result.elapsed_ms)
    assert connects == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.1/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://10.0.0.5/",
        "https://169.254.169.254/",
        "http://localhost/",
        "https://localhost/",
    ],
)
def test_loopback_exemption_covers_only_canonical_loopback_literals(url: str) -> None:
    # Given the local stack's policy
    local = WebhookPolicy(frozenset({"localhost"}), allow_loopback_http=True)
    # Then odd spellings, other ranges and loopback *names* stay refused
    with pytest.raises(WebhookUrlError):
        _check(url, local)


def test_loopback_exemption_accepts_plain_loopback_literals_without_dns() -> None:
    # Given the local stack's policy and a resolver that must not be used
    local = WebhookPolicy(frozenset(), allow_loopback_http=True)
    calls: list[str] = []
    # When canonical loopback URLs are checked
    v4 = validate_url("http://127.0.0.1:8085/hook", local)
    v6 = validate_url("http://[::1]:8085/hook", local)
    # Then they pass, resolve to themselves, and DNS is never asked
    assert v4 == ParsedTarget("http", "127.0.0.1", 8085, "/hook", loopback_exempt=True)
    assert [str(a) for a in resolve_target(v4, local, make_resolver({}, calls))] == ["127.0.0.1"]
    assert [str(a) for a in resolve_target(v6, local, make_resolver({}, calls))] == ["::1"]
    assert calls == []


def test_allowed_urls_parse_and_resolve_to_public_addresses() -> None:
    # Given allowed https URLs (explicit port, query, fragment, case, trailing dot)
    calls: list[str] = []
    target = validate_url("https://HOOKS.Example.com.:8443/in/hook?token=abc#frag", POLICY)
    # Then the target is normalised, the fragment dropped, and DNS answers are vetted and kept
    assert target == ParsedTarget("https", "hooks.example.com", 8443, "/in/hook?token=abc")
    addrs = resolve_target(target, POLICY, make_resolver(DNS, calls))
    assert [str(a) for a in addrs] == [PUBLIC_V4, PUBLIC_V6]
    assert calls == ["hooks.example.com"]
    # And the wildcard matches subdomains at any depth, default port 443, path "/"
    assert validate_url("https://a.example.org", POLICY) == ParsedTarget("https", "a.example.org", 443, "/")
    assert validate_url("https://x.y.example.org/", POLICY).host == "x.y.example.org"


def test_hand_built_target_cannot_claim_the_loopback_exemption() -> None:
    # Given a ParsedTarget claiming the exemption under the production policy
    target = ParsedTarget("http", "127.0.0.1", 80, "/", loopback_exempt=True)
    # Then resolving refuses it
    with pytest.raises(WebhookUrlError) as info:
        resolve_target(target, POLICY, make_resolver({}))
    assert info.value.code == LITERAL


def test_resolve_target_refuses_a_hand_built_literal_target() -> None:
    # Given a ParsedTarget that skipped validate_url, with a decimal IPv4 "name"
    target = ParsedTarget("https", "2130706433", 443, "/")
    # Then resolving refuses it rather than letting getaddrinfo read it as 127.0.0.1
    with pytest.raises(WebhookUrlError) as info:
        resolve_target(target, POLICY, make_resolver({"2130706433": ["127.0.0.1"]}))
    assert info.value.code == LITERAL


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        (PUBLIC_V4, True),
        ("8.8.8.8", True),
        (PUBLIC_V6, True),
        ("::ffff:8.8.8.8", True),  # mapped public v4 is that v4
        ("64:ff9b::808:808", True),  # NAT64 of a public v4
        ("2002:808:808::1", True),  # 6to4 of a public v4
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("169.254.170.2", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b:1::1", False),
        ("2002:7f00:1::", False),
        ("2001:0:808:808:0:0:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("2001:db8::1", False),
    ],
)
def test_address_rules(address: str, allowed: bool) -> None:
    assert (address_problem(ipaddress.ip_address(address)) is None) is allowed


def test_metadata_address_is_named_as_such() -> None:
    assert address_problem(ipaddress.ip_address("169.254.169.254")) == "the cloud metadata address"
    assert address_problem(ipaddress.ip_address("fd00:ec2::254")) == "the cloud metadata address"


def test_allow_list_parsing() -> None:
    # Given WEBHOOK_ALLOWED_HOSTS as the template passes it (comma-joined, maybe empty entries)
    # Then names are normalised and wildcards kept
    assert parse_allowed_hosts(" Hooks.Example.com., *.Example.org ,,") == frozenset(
        {"hooks.example.com", "*.example.org"}
    )
    assert parse_allowed_hosts("") == frozenset()
    assert WebhookPolicy.from_allowed_hosts("a.example.com").allows_host("a.example.com")
    # And an empty allow-list refuses every host
    with pytest.raises(WebhookUrlError) as info:
        validate_url("https://hooks.example.com/", WebhookPolicy(frozenset()))
    assert info.value.code == WebhookErrorCode.HOST_NOT_ALLOWED


@pytest.mark.parametrize("entry", ["*.com", "*", "10.0.0.1", "2130706433", "[::1]", "a b.com", "*.*.example.com"])
def test_allow_list_refuses_ip_and_overbroad_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_allowed_hosts(entry)


# --------------------------------------------------------------------------- delivery over real loopback HTTP


@dataclass
class Seen:
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.requests]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: Seen

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up on purpose (timeouts, capped reads) are expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _reply(self, status: int, body: bytes = b"", extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.seen.requests.append((self.path, dict(self.headers.items()), b""))
        self._reply(200)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.seen.requests.append((self.path, dict(self.headers.items()), body))
        port = self.server.server_address[1]
        if self.path == "/slow":
            self.server.seen.release.wait(5)
            self._reply(200)
        elif self.path == "/drip":
            # Headers trickle in forever: each recv succeeds, only a total deadline stops it.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(50):
                if self.server.seen.release.wait(0.1):
                    return
                self.wfile.write(b"a")
                self.wfile.flush()
        elif self.path == "/big":
            self._reply(200, b"x" * (1024 * 1024))
        elif self.path == "/redirect":
            self._reply(302, extra={"Location": f"http://127.0.0.1:{port}/target"})
        else:
            status = {"/ok": 200, "/capture": 204, "/fail": 500, "/gone": 410, "/busy": 429}[self.path]
            self._reply(status, b"response body that must be ignored")


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = Seen()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", srv.seen
    finally:
        srv.seen.release.set()
        srv.shutdown()
        srv.server_close()


LOCAL = WebhookPolicy(frozenset(), allow_loopback_http=True)


def test_delivery_sends_exact_headers_and_body_and_signature_verifies(server: tuple[str, Seen]) -> None:
    # Given a built event
    base, seen = server
    now = int(time.time())
    body, headers = build_event(
        "evt_9",
        WebhookEventType.JOB_FAILED,
        {"job_id": "j9"},
        "2025-01-01T00:00:00Z",
        keys=signing_keys(SECRET),
        timestamp=now,
    )
    # When it is delivered to the local receiver
    result = deliver(f"{base}/capture", body, headers, LOCAL)
    # Then the receiver got exactly that body and those headers
    assert result.ok and result.status == 204 and result.error_code is None and not result.retryable
    [(path, got, received)] = seen.requests
    assert path == "/capture"
    assert received == body
    for key, value in headers.items():
        assert got[key] == value
    assert got["Content-Length"] == str(len(body))
    assert got["Host"] == base.removeprefix("http://")
    # And the signature verifies on what arrived
    assert verify(SECRET, received, dict(got.items()), now=int(time.time()))


@pytest.mark.parametrize(
    ("path", "ok", "status", "code", "retryable"),
    [
        ("/ok", True, 200, None, False),
        ("/big", True, 200, None, False),
        ("/fail", False, 500, WebhookErrorCode.HTTP_ERROR, True),
        ("/busy", False, 429, WebhookErrorCode.HTTP_ERROR, True),
        ("/gone", False, 410, WebhookErrorCode.HTTP_ERROR, False),
        ("/redirect", False, 302, WebhookErrorCode.REDIRECT_NOT_FOLLOWED, False),
    ],
)
def test_delivery_outcomes_by_status(
    server: tuple[str, Seen], path: str, ok: bool, status: int, code: str | None, retryable: bool
) -> None:
    # Given a receiver answering with a given status
    base, seen = server
    # When an event is delivered
    result = deliver(f"{base}{path}", b"{}", {"Content-Type": "application/json"}, LOCAL)
    # Then the outcome is classified, and a redirect is never followed
    assert (result.ok, result.status, result.error_code, result.retryable) == (ok, status, code, retryable)
    assert seen.paths() == [path]
    assert "/target" not in seen.paths()


def test_slow_receiver_times_out_as_retryable(server: tuple[str, Seen]) -> None:
    # Given a receiver that does not answer in time
    base, _ = server
    # When delivering with a short total timeout
    result = deliver(f"{base}/slow", b"{}", {}, LOCAL, timeout=0.5)
    # Then it is a retryable timeout, and it took about the timeout
    assert (result.ok, result.status, result.error_code, result.retryable) == (
        False,
        None,
        WebhookErrorCode.TIMEOUT,
        True,
    )
    assert result.elapsed_ms < 3000


def test_trickling_receiver_is_cut_off_at_the_total_deadline(server: tuple[str, Seen]) -> None:
    # Given a receiver sending one header byte every 0.1 s (no single read ever times out)
    base, _ = server
    started = time.monotonic()
    # When delivering with a 1 s total budget
    result = deliver(f"{base}/drip", b"{}", {}, LOCAL, timeout=1.0)
    # Then the attempt ends near the deadline as a retryable timeout
    assert result.error_code == WebhookErrorCode.TIMEOUT and result.retryable
    assert time.monotonic() - started < 3.0


def test_loopback_http_is_refused_without_the_exemption(server: tuple[str, Seen]) -> None:
    # Given the production policy (even with 127.0.0.1 nowhere near the allow-list)
    base, seen = server
    # When delivering to the loopback receiver over http, or https
    plain = deliver(f"{base}/ok", b"{}", {}, WebhookPolicy(frozenset()))
    tls = deliver(base.replace("http://", "https://") + "/ok", b"{}", {}, WebhookPolicy(frozenset()))
    # Then both are refused before any connection: the receiver saw nothing
    assert (plain.ok, plain.error_code, plain.retryable) == (False, WebhookErrorCode.SCHEME_NOT_ALLOWED, False)
    assert (tls.ok, tls.error_code, tls.retryable) == (False, LITERAL, False)
    assert seen.requests == []


def test_refused_connection_is_retryable() -> None:
    # Given a loopback port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # When delivering there
    result = deliver(f"http://127.0.0.1:{port}/x", b"{}", {}, LOCAL)
    # Then it is a retryable connection error
    assert (result.ok, result.error_code, result.retryable) == (False, WebhookErrorCode.CONNECT_ERROR, True)


def test_dns_failure_is_retryable() -> None:
    result = deliver("https://a.example.org/", b"{}", {}, POLICY, resolver=make_resolver({}))
    assert (result.ok, result.status, result.error_code, result.retryable) == (
        False,
        None,
        WebhookErrorCode.DNS_ERROR,
        True,
    )


# --------------------------------------------------------------------------- HTTPS: pinned address, original SNI


class RecordingContext(ssl.SSLContext):
    """A real client context whose wrap_socket records its arguments and then aborts the attempt."""

    calls: list[dict[str, Any]]

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        self.calls.append({"sock": sock, "server_hostname": server_hostname, "server_side": server_side})
        raise ssl.SSLCertVerificationError("recorded; abort")


@pytest.fixture
def recorded_connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[tuple[Any, ...]], set[Any]]]:
    """socket.create_connection replaced: records (address, timeout), returns a local socketpair end."""
    calls: list[tuple[Any, ...]] = []
    refuse: set[Any] = set()
    opened: list[socket.socket] = []

    def fake_create_connection(address: tuple[str, int], timeout: float | None = None, *rest: Any) -> socket.socket:
        calls.append((address, timeout))
        if address[0] in refuse:
            raise ConnectionRefusedError("refused")
        a, b = socket.socketpair()
        opened.extend([a, b])
        return a

    monkeypatch.setattr(socket, "create_connection", fake_create_connection)
    yield calls, refuse
    for s in opened:
        s.close()


def _recording_context() -> RecordingContext:
    ctx = RecordingContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.calls = []
    return ctx


def test_https_connects_to_the_vetted_ip_with_original_sni(
    recorded_connect: tuple[list[tuple[Any, ...]], set[Any]],
) -> None:
    # Given a name that resolves to a public address, and recording socket/TLS layers
    calls, _ = recorded_connect
    ctx = _recording_context()
    dns_calls: list[str] = []
    # When delivering over https
    result = deliver(
        "https://hooks.example.com:8443/hook",
        b"{}",
        {},
        POLICY,
        resolver=make_resolver(DNS, dns_calls),
        ssl_context=ctx,
        connect_timeout=2.0,
    )
    # Then DNS was asked once, TCP went to the vetted IP (not the name), and TLS got the original name
    assert dns_calls == ["hooks.example.com"]
    assert calls == [((PUBLIC_V4, 8443), 2.0)]
    assert [c["server_hostname"] for c in ctx.calls] == ["hooks.example.com"]
    assert ctx.calls[0]["server_side"] is False
    # And the aborted handshake is a retryable TLS failure
    assert (result.ok, result.error_code, result.retryable) == (False, WebhookErrorCode.TLS_ERROR, True)


def test_https_falls_over_only_to_other_vetted_addresses(
    recorded_connect: tuple[list[tuple[Any, ...]], set[Any]],
) -> None:
    # Given the first vetted address refuses connections
    calls, refuse = recorded_connect
    refuse.add(PUBLIC_V4)
    ctx = _recording_context()
    # When the connection class connects
    conn = PinnedHTTPSConnection(
        "hooks.example.com", 443, _check("https://hooks.example.com/"), timeout=5.0, context=ctx
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.connect()
    # Then it tried the next vetted address, still with the original name for TLS
    assert [c[0] for c in calls] == [(PUBLIC_V4, 443), (PUBLIC_V6, 443)]
    assert [c["server_hostname"] for c in ctx.calls] == ["hooks.example.com"]


def test_default_tls_context_verifies_certificates_and_hostnames() -> None:
    conn = PinnedHTTPSConnection("hooks.example.com", 443, [ipaddress.ip_address(PUBLIC_V4)])
    assert conn.tls_context.verify_mode == ssl.CERT_REQUIRED
    assert conn.tls_context.check_hostname is True


# --------------------------------------------------------------------------- backoff


def test_backoff_grows_exponentially_then_caps() -> None:
    # Given successive failed attempts, no jitter
    delays = [retry_delay_seconds(n) for n in range(1, 10)]
    # Then the delay doubles from the base until the cap
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_backoff_never_exceeds_sqs_visibility_limit() -> None:
    assert retry_delay_seconds(50, cap=10**9) == SQS_MAX_VISIBILITY_S
    assert retry_delay_seconds(10**9) == 3600  # a huge count is cheap and capped


def test_backoff_jitter_is_bounded_and_deterministic_with_a_seed() -> None:
    # Given two generators with the same seed
    def run(rng: random.Random) -> list[int]:
        return [retry_delay_seconds(n, jitter=rng) for n in range(1, 12)]

    first, second = run(random.Random(7)), run(random.Random(7))
    # Then the sequences match, and each delay lies in [1, ceiling]
    assert first == second
    for n, delay in enumerate(first, start=1):
        assert 1 <= delay <= retry_delay_seconds(n)
    # And jitter actually spreads values
    assert len({retry_delay_seconds(8, jitter=random.Random(s)) for s in range(20)}) > 10


@pytest.mark.parametrize("kwargs", [{"attempt": 0}, {"attempt": 1, "base": 0}, {"attempt": 1, "cap": 0}])
def test_backoff_refuses_nonsense(kwargs: dict[str, int]) -> None:
    call: Callable[..., int] = retry_delay_seconds
    with pytest.raises(ValueError):
        call(**kwargs)


def test_stalled_tls_handshake_times_out_as_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a vetted public address whose TCP lands on a local listener that never speaks TLS
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        real_create_connection = socket.create_connection
        seen: list[tuple[str, int]] = []

        def to_silent(address: tuple[str, int], timeout: float | None = None, *rest: Any) -> socket.socket:
            seen.append(address)
            return real_create_connection(silent.getsockname(), timeout=timeout)

        monkeypatch.setattr(socket, "create_connection", to_silent)
        # When delivering over real TLS with a short budget
        result = deliver("https://a.example.org/", b"{}", {}, POLICY, resolver=make_resolver(DNS), timeout=0.5)
    # Then the handshake is abandoned as a retryable timeout, after connecting to the vetted IP
    assert seen == [(PUBLIC_V4, 443)]
    assert (result.ok, result.error_code, result.retryable) == (False, WebhookErrorCode.TIMEOUT, True)
    assert result.elapsed_ms < 3000
