"""The local runner under drills (issue 11, section 2): bursts, stalled and killed workers, a dying sweeper.

These run the runner's parts on their own (the HTTP server, a function worker, a schedule), so a
drill takes seconds and needs no stack.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any

import pytest

from infra.local.httpserver import BackgroundServer, QuietHandler

pytestmark = pytest.mark.integration


class _SlowCreate(QuietHandler):
    """Answers each POST after a little work, as the API function does."""

    def do_POST(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's naming)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(0.05)
        self.send_response(201)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _burst(port: int, clients: int) -> list[Any]:
    answers: list[Any] = []
    start = threading.Barrier(clients)

    def one() -> None:
        start.wait()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/v1/jobs", body=b"{}", headers={"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            answers.append(response.status)
        except OSError as error:
            answers.append(repr(error))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.parametrize("clients", [64, 200])
def test_a_burst_of_concurrent_posts_is_served_without_resets(clients: int) -> None:
    # Given the local stack's HTTP server
    server = BackgroundServer(_SlowCreate, None, name="burst")
    port = int(server.start().rsplit(":", 1)[1])
    try:
        # When many clients POST at the same moment
        answers = _burst(port, clients)
    finally:
        server.stop()
    # Then every one is answered: none is reset by a full listen backlog
    assert answers == [201] * clients, [a for a in answers if a != 201][:3]
