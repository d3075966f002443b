"""Regressions: server bugs the fuzzer and the hostile clients found, each pinned by a test.

Bug 1: with a streamed body (ThreadingHTTPServer or an ``async def`` handler), a framing
error in the body while the handler runs (``HTTPConnection._refuse`` with
``self._running``) swaps in a fresh parser that still accepts and parses bytes.  Bytes
the client sends afterwards are parsed as a new request and a handler runs for it: a
smuggled request, and the second response is written into a connection that is closing.
"""

from __future__ import annotations

import http.server
import socket
import time
from typing import Any

import pytest

from aiohttpbase import ThreadingHTTPServer


class SlowReader(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ran: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.ran.append(self.path)
        time.sleep(0.3)
        try:
            self.rfile.read()
        except OSError:
            pass
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST


def test_no_request_is_parsed_after_a_body_framing_error_while_the_handler_runs(serve: Any) -> None:
    SlowReader.ran = []
    server = serve(SlowReader, ThreadingHTTPServer)
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        time.sleep(0.1)  # the bad chunk line is refused while the handler sleeps
        try:
            sock.sendall(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
        sock.settimeout(3)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
    time.sleep(0.5)
    assert SlowReader.ran == ["/"], f"handlers ran for {SlowReader.ran}"


# Bug 2: ThreadingHTTPServer, a client that half-closes (or whose body has a framing
# error) mid-body: the handler gets a short read or an error and the response (200 or
# 500 with Connection: close) is sent, but the connection is not closed until
# timeout_body (30 s) expires, and shutdown() waits timeout_graceful_shutdown for it.
@pytest.mark.parametrize(
    "partial",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["mid-body", "mid-chunk", "bad-chunk-size"],
)
def test_threaded_connection_closes_after_a_failed_body(serve: Any, partial: bytes) -> None:
    from tests.test_hostile import Target, send_and_half_close

    server = serve(Target, ThreadingHTTPServer)
    start = time.monotonic()
    send_and_half_close(server, partial, limit=3)  # fails if not closed within 3 s
    assert time.monotonic() - start < 2.0


# Bug 3: ThreadingHTTPServer, a client that sends a complete request and half-closes gets
# its response, but the connection is closed only by timeout_keep_alive (5 s) later.
def test_threaded_half_close_after_a_complete_request_closes_at_once(serve: Any) -> None:
    from tests.test_hostile import Target, send_and_half_close

    server = serve(Target, ThreadingHTTPServer)
    start = time.monotonic()
    raw = send_and_half_close(server, b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n", limit=3)
    assert raw.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - start < 1.0


# Bug 4: ThreadingHTTPServer, pipelined requests (or a keep-alive client whose next request
# arrives before the loop has run ``_handler_returned``): the bytes are buffered while the
# parser is in state DONE, and ``_after_response`` calls ``start_next_request()`` and
# ``_update_reading()`` but never ``_process()``, so they sit unparsed until the head
# deadline.  The soak benchmark shows it as 408s to good keep-alive clients.
def test_threaded_pipelined_requests_are_all_answered(serve: Any) -> None:
    from tests.test_hostile import Target

    server = serve(Target, ThreadingHTTPServer)
    start = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        out = b""
        while out.count(b"HTTP/1.1 200") < 2:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    assert out.count(b"HTTP/1.1 200") == 2, out[:300]
    assert time.monotonic() - start < 1.0
