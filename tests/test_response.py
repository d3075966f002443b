"""In memory: how ``ResponseWriter`` frames what a handler writes.

Each case runs twice, so the second answer comes from the remembered framing decision,
and all cases share one head where they can, so a decision made for one request (HEAD,
HTTP/1.0, ``Connection: close``) must never leak into another.
"""

from __future__ import annotations

import http.server
import io
from typing import Any

import pytest

from aiohttpbase._response import ResponseWriter
from aiohttpbase._streams import ResponseStream
from bench import micro

HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
HEAD_NO_LENGTH = b"HTTP/1.1 200 OK\r\nServer: t\r\n\r\n"

# (method, request version, request keep-alive, head, body) -> (bytes sent, keep-alive)
CASES = [
    (("GET", "HTTP/1.1", True, HEAD_200, b"hello"), (HEAD_200 + b"hello", True)),
    (("HEAD", "HTTP/1.1", True, HEAD_200, b"hello"), (HEAD_200, True)),
    (
        ("GET", "HTTP/1.1", False, HEAD_200, b"hello"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", False),
    ),
    (
        ("GET", "HTTP/1.1", True, HEAD_NO_LENGTH, b"hello"),
        (b"HTTP/1.1 200 OK\r\nServer: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", True),
    ),
    (
        ("GET", "HTTP/1.0", False, HEAD_NO_LENGTH, b"hello"),
        (b"HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\n\r\nhello", False),
    ),
    # ab -k: an HTTP/1.0 client asking to keep the connection is told that it is kept.
    (
        ("GET", "HTTP/1.0", True, HEAD_200, b"hello"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello", True),
    ),
    (
        ("HEAD", "HTTP/1.0", True, HEAD_200, b"hello"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n", True),
    ),
    # ... but not when the body can only end with the connection.
    (
        ("GET", "HTTP/1.0", True, HEAD_NO_LENGTH, b"hello"),
        (b"HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\n\r\nhello", False),
    ),
    (
        (
            "GET",
            "HTTP/1.0",
            True,
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n",
            b"hi",
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi", True),
    ),
    (
        ("GET", "HTTP/1.1", True, b"HTTP/1.0 200 OK\nContent-Length: 2\n\n", b"hi"),
        (b"HTTP/1.0 200 OK\nContent-Length: 2\n\nhi", False),
    ),
    (
        ("GET", "HTTP/1.1", True, b"HTTP/1.1 204 No Content\r\n\r\n", b"dropped"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
    ),
    (
        ("GET", "HTTP/1.1", True, b"not a status line\r\n\r\n", b"raw"),
        (b"not a status line\r\n\r\nraw", False),
    ),
]


def respond(method: str, version: str, keep_alive: bool, head: bytes, body: bytes) -> tuple[bytes, bool]:
    sent: list[bytes] = []
    writer = ResponseWriter(sent.append)
    writer.start(method, version, keep_alive)
    writer.write(head)
    writer.write(body)
    keep_alive = writer.finish()
    return b"".join(sent), keep_alive


@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_framing_is_the_same_when_remembered(rounds: int) -> None:
    for _ in range(rounds):
        for request, expected in CASES:
            assert respond(*request) == expected, request


def test_interim_head_goes_out_at_once_and_the_final_one_is_framed() -> None:
    for _ in range(2):
        sent: list[bytes] = []
        writer = ResponseWriter(sent.append)
        writer.start("POST", "HTTP/1.1", True)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert sent == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        writer.write(HEAD_200 + b"hello")  # head and body in one write
        assert writer.finish() is True
        assert b"".join(sent) == b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD_200 + b"hello"
        assert writer.status == 200 and writer.body_bytes == 5


def test_a_head_written_in_pieces_is_framed_like_a_whole_one() -> None:
    sent: list[bytes] = []
    writer = ResponseWriter(sent.append)
    writer.start("GET", "HTTP/1.1", True)
    for byte in HEAD_NO_LENGTH:
        writer.write(bytes([byte]))
    writer.write(b"hello")
    assert writer.finish() is True
    assert b"".join(sent) == respond("GET", "HTTP/1.1", True, HEAD_NO_LENGTH, b"hello")[0]


class ChunkedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()  # no Content-Length: a chunked body
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_small_response_leaves_in_one_write_even_when_chunked() -> None:
    # bench/micro.py feeds requests through a real HTTPConnection over a stand-in transport.
    _, transport = micro.run("h11", 3, ChunkedHandler)
    assert transport.writes == 3
    assert transport.last.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")


def test_wfile_behaves_as_a_binary_file() -> None:
    sent: list[bytes] = []
    writer = ResponseWriter(sent.append)
    writer.start("GET", "HTTP/1.1", True)
    stream = ResponseStream(writer)
    assert stream.writable() and not stream.closed
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")  # a text layer over it
    text.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhé\n")
    text.flush()
    assert stream.write(memoryview(b"ab")[:1]) == 1  # copied: the caller may reuse it
    with stream:
        pass
    assert stream.closed
    with pytest.raises(ValueError):
        stream.write(b"late")
    with pytest.raises(ValueError):
        stream.sendfile(io.BytesIO())
    stream.flush()  # harmless once closed, as the stdlib's finish() may call it
    writer.finish()
    assert b"".join(sent) == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nh\xc3\xa9\na"
