"""Malformed and hostile requests get the right status, close, and harm nobody else."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from tests import handlers
from tests.conftest import read_until_closed, recv_all, server_class_for

H = b"Host: x\r\n"

CASES = [
    # (raw request, expected status line prefix)
    (b"GET / HTTP/9.9\r\n" + H + b"\r\n", b"HTTP/1.1 505 Invalid HTTP version (9.9)"),
    (b"GET / FUBAR\r\n" + H + b"\r\n", b"HTTP/1.1 400 Bad request version ('FUBAR')"),
    (b"GET / HTTP/1.1.1\r\n" + H + b"\r\n", b"HTTP/1.1 400 Bad request version"),
    (b"GET / HTTP/01234567890.1\r\n\r\n", b"HTTP/1.1 400 Bad request version"),
    (b"GET / HTTP/1.1 extra\r\n\r\n", b"HTTP/1.1 400 Bad request version"),
    (b"GET a b HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 Bad request syntax"),
    (b"POST /\r\n\r\n", b"HTTP/1.1 400 Bad HTTP/0.9 request type ('POST')"),
    (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 "),  # no Host (RFC 9112 3.2)
    (b"GET / HTTP/1.2\r\n\r\n", b"HTTP/1.1 400 "),  # no Host on a later HTTP/1.x either
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"HTTP/1.1 414 "),
    (b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 90000 + b"\r\n\r\n", b"HTTP/1.1 431 "),
    (
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
        b"HTTP/1.1 431 Too many headers",
    ),
    (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 400 ",
    ),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"HTTP/1.1 400 "),
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", b"HTTP/1.1 400 "),
    (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", b"HTTP/1.1 400 "),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n", b"HTTP/1.1 501 "),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", b"HTTP/1.1 400 "),
    (
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 400 ",
    ),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", b"HTTP/1.1 400 "),
    (b"GET / HTTP/1.1\r\nHost: user@x\r\n\r\n", b"HTTP/1.1 400 "),
    (b"GET / HTTP/1.1\r\nHost: \r\n\r\n", b"HTTP/1.1 400 "),
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\x01b\r\n\r\n", b"HTTP/1.1 400 "),
    (b"GET * HTTP/1.1\r\n" + H + b"\r\n", b"HTTP/1.1 400 "),
    (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 400 ",
    ),
    (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5;a=\x00\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 400 ",
    ),
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n folded\r\n\r\n", b"HTTP/1.1 400 "),
    (b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", b"HTTP/1.1 400 "),
    (b"GET / HTTP/1.1\r\n" + H + b"Bad Name: v\r\n\r\n", b"HTTP/1.1 400 "),
    (b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", b"HTTP/1.1 400 "),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"HTTP/1.1 400 "),
]


@pytest.mark.parametrize(
    ("request_bytes", "status"), CASES, ids=[c[1][9:40].decode(errors="replace") for c in CASES]
)
def test_bad_request_gets_status_and_close(
    serve: Any, run_mode: str, request_bytes: bytes, status: bytes
) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Echo)
    raw = server.raw(request_bytes + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(status), raw[:200]
    assert raw.count(b"HTTP/1.1 ") == 1, "bytes after a refused request must never be parsed"
    head = raw.partition(b"\r\n\r\n")[0]
    assert b"\r\nConnection: close\r\n" in head + b"\r\n"
    assert b"Traceback" not in raw
    # The server keeps serving everyone else.
    assert server.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 501")


def test_smuggling_cl_te_never_runs_the_hidden_request(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Echo)
    hidden = b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = server.raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s"
        % (5 + len(hidden), hidden)
    )
    assert raw.startswith(b"HTTP/1.1 400")
    assert raw.count(b"HTTP/1.1") == 1


def test_http09_simple_request_gets_the_bare_body(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Hello)
    assert server.raw(b"GET /\r\n") == handlers.BODY


def test_empty_lines_before_the_request_line_are_ignored(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Hello)
    assert server.raw(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 200 OK"
    )


def test_client_disconnecting_mid_body_does_not_disturb_the_server(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Echo)
    for _ in range(20):
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        assert recv_all(sock).endswith(b"\r\n\r\nok")


def test_body_over_the_inline_limit_is_413(serve: Any, run_mode: str) -> None:
    """``max_buffered_body_bytes`` bounds what is read whole before the handler runs: every
    body inline, a chunked one on a thread (``buffer_chunked_body``); an async handler
    streams every body, and so does a threaded one with a Content-Length."""
    server = handlers.serve_in(
        serve, run_mode, handlers.Echo, config=ServerConfig(max_buffered_body_bytes=1000)
    )
    sized = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\nConnection: close\r\n\r\n"
    chunked_head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunk = b"200\r\n" + b"a" * 512 + b"\r\n"
    if run_mode == "inline":
        assert server.raw(sized).startswith(b"HTTP/1.1 413")  # refused before any body byte
    else:
        answer = server.raw(sized + b"a" * 1001)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n" + b"a" * 1001)
    if run_mode == "async":
        answer = server.raw(chunked_head + chunk * 2 + b"0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n" + b"a" * 1024)
    else:
        assert server.raw(chunked_head + chunk * 2).startswith(b"HTTP/1.1 413")


def test_malformed_body_after_an_early_answer_gets_no_second_response(
    serve: Any, run_mode: str, request: Any
) -> None:
    """The handler answered without reading a chunked body whose rest turns out malformed.
    Inline (and on a thread by default) the body is read whole first: the 400 is the only
    answer.  Where the handler ran while the body streamed in -- async, or a thread with
    ``buffer_chunked_body`` off -- one answer too: its own or the 400, never both."""
    server = serve(
        handlers.AsyncEarly if run_mode == "async" else handlers.Early,
        server_class_for(run_mode),
        config=ServerConfig(buffer_chunked_body=False),
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        time.sleep(0.2)  # a streaming handler has answered by now
        sock.sendall(b"zz\r\n")
        answer = read_until_closed(sock, 5)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert answer.startswith((b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 400 "))
