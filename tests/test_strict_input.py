"""Issue 11, part 3: chunked request bodies framed by the grammar, on every backend.

Every behaviour runs on each parser backend and in each run mode (inline, thread pool,
``async def``), over loopback with a follow-up request hidden behind the bad one: a
refused request is answered 400 with ``Connection: close``, the connection is closed, and
nothing after it ever runs.  The in-memory tests at the end pin the chunked decoder's
grammar on both backends, fed whole and a byte at a time.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from aiohttpbase._head import MAX_CHUNK_LINE
from aiohttpbase._parsers import PARSERS
from tests.conftest import RunningServer, read_until_closed, server_class_for
from tests.test_parsers import bytewise, run, whole

HIDDEN = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"


# -- a recording server per parser and run mode ------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    """Reads the body (Content-Length or to the end), answers ``ran:`` + body; records the
    paths it ran and those whose body read failed."""

    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    ran: list[str] = []
    failed: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def length(self) -> int:
        value = self.headers.get("Content-Length")
        return -1 if value is None else int(value)

    def begin(self) -> None:
        with self.lock:
            self.ran.append(self.path)

    def read_failed(self) -> None:
        with self.lock:
            self.failed.append(self.path)

    def answer(self, body: bytes) -> None:
        body = b"ran:" + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.begin()
        try:
            body = self.rfile.read(self.length())
        except (OSError, ValueError):
            self.read_failed()
            raise
        self.answer(body)

    do_POST = do_PUT = do_OPTIONS = do_GET


class AsyncRecorder(Recorder):
    async def do_GET(self) -> None:  # type: ignore[override]
        self.begin()
        try:
            body = await self.rfile.aread(self.length())  # type: ignore[attr-defined]
        except (OSError, ValueError):
            self.read_failed()
            raise
        self.answer(bytes(body))

    do_POST = do_PUT = do_OPTIONS = do_GET  # type: ignore[assignment]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[tuple[str, str], RunningServer]]:
    """One recording server per (parser, run mode), started on first use, for the module."""
    started: dict[tuple[str, str], RunningServer] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def target(servers: dict[tuple[str, str], RunningServer], parser: str, run_mode: str) -> RunningServer:
    key = (parser, run_mode)
    if key not in servers:
        handler = AsyncRecorder if run_mode == "async" else Recorder
        config = ServerConfig(parser=parser, timeout_graceful_shutdown=0.5)
        servers[key] = RunningServer(server_class_for(run_mode)(("127.0.0.1", 0), handler, config=config))
    Recorder.ran = []
    Recorder.failed = []
    return servers[key]


def converse(server: RunningServer, data: bytes, limit: float = 5) -> bytes:
    """Send ``data``, half-close, and read until the server closes the connection."""
    with socket.create_connection((server.host, server.port), timeout=limit) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # refused and reset while we sent: allowed
        return read_until_closed(sock, limit)


def status_of(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1.1 "), raw[:300]
    return int(raw[9:12])


def assert_refused(raw: bytes, status: int = 400) -> None:
    """One answer, ``status`` with ``Connection: close``, nothing served after it."""
    assert raw.startswith(b"HTTP/1.1 %d " % status), raw[:300]
    head = raw.partition(b"\r\n\r\n")[0] + b"\r\n"
    assert b"\r\nConnection: close\r\n" in head, head
    assert raw.count(b"HTTP/1.1 ") == 1, raw[:600]
    assert "/smuggled" not in Recorder.ran


def post(fields: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    host = b"Host: x\r\n" if version == b"HTTP/1.1" else b""
    return b"POST / " + version + b"\r\n" + host + fields + b"\r\n" + body


# -- chunk lines, chunk data and trailers ------------------------------------------------

BAD_CHUNKS = {
    "size 0x5": b"0x5\r\nhello\r\n0\r\n\r\n",
    "size +5": b"+5\r\nhello\r\n0\r\n\r\n",
    "size -5": b"-5\r\nhello\r\n0\r\n\r\n",
    "size 5_0": b"5_0\r\nhello\r\n0\r\n\r\n",
    "space before size": b" 5\r\nhello\r\n0\r\n\r\n",
    "space after size": b"5 \r\nhello\r\n0\r\n\r\n",
    "tab after size": b"5\t\r\nhello\r\n0\r\n\r\n",
    "space after last size": b"5\r\nhello\r\n0 \r\n\r\n",
    "bare CR after size": b"5\rhello\r\n0\r\n\r\n",
    "bare LF after size": b"5\nhello\r\n0\r\n\r\n",
    "no size": b"\r\nhello\r\n0\r\n\r\n",
    "21 hex digits": b"0" * 21 + b"5\r\nhello\r\n0\r\n\r\n",
    "data longer than the size": b"5\r\nhello!!\r\n0\r\n\r\n",
    "no CRLF after the data": b"5\r\nhello0\r\n\r\n",
    "bare LF after the data": b"5\r\nhello\n0\r\n\r\n",
    "space before extension": b"5 ;a=b\r\nhello\r\n0\r\n\r\n",
    "space in extension": b"5;a= b\r\nhello\r\n0\r\n\r\n",
    "empty extension": b"5;\r\nhello\r\n0\r\n\r\n",
    "extension value not a token": b"5;a=b/c\r\nhello\r\n0\r\n\r\n",
    "extension with bare CR": b"5;a=b\rc\r\nhello\r\n0\r\n\r\n",
    "extension with NUL": b"5;a=\x00\r\nhello\r\n0\r\n\r\n",
    "quoted extension with CR": b'5;a="b\rc"\r\nhello\r\n0\r\n\r\n',
    "quoted extension with NUL": b'5;a="b\x00c"\r\nhello\r\n0\r\n\r\n',
    "quoted extension unterminated": b'5;a="bc\r\nhello\r\n0\r\n\r\n',
    "extension over 4 KiB": b"5;a=" + b"b" * MAX_CHUNK_LINE + b"\r\nhello\r\n0\r\n\r\n",
    "trailer with a control character": b"5\r\nhello\r\n0\r\nX: a\x01b\r\n\r\n",
    "trailer with DEL": b"5\r\nhello\r\n0\r\nX: a\x7f\r\n\r\n",
    "trailer folded": b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n",
    "trailer with bare LF": b"5\r\nhello\r\n0\r\nX: a\n\r\n",
    "trailer without a colon": b"5\r\nhello\r\n0\r\nXa\r\n\r\n",
    "bare LF ending the trailers": b"5\r\nhello\r\n0\r\n\n",
}


@pytest.mark.parametrize("body", BAD_CHUNKS.values(), ids=list(BAD_CHUNKS))
def test_chunked_framing_follows_the_grammar(target: RunningServer, run_mode: str, body: bytes) -> None:
    raw = converse(target, post(b"Transfer-Encoding: chunked\r\n", body + HIDDEN))
    # Refused before any handler code runs (the body is read first: buffer_chunked_body),
    # or, for an async handler streaming it, answered with the same 400 once its read fails.
    assert_refused(raw)
    if Recorder.ran:
        assert run_mode == "async" and Recorder.failed == ["/"], (Recorder.ran, Recorder.failed)


GOOD_CHUNKS = {
    "extensions": (b'5;a;b=c;d="q \\" ;\\\\"\r\nhello\r\n0;z\r\n\r\n', b"hello"),
    "upper-case hex and leading zeros": (b"0000A\r\nhellohello\r\n00\r\n\r\n", b"hellohello"),
    "trailers": (b"5\r\nhello\r\n0\r\nX-T: a\tb \xe9\r\nY:\r\n\r\n", b"hello"),
    "a chunk line of exactly 4 KiB": (
        b"5;a=" + b"b" * (MAX_CHUNK_LINE - 6) + b"\r\nhello\r\n0\r\n\r\n",
        b"hello",
    ),
    "an empty body": (b"0\r\n\r\n", b""),
}


@pytest.mark.parametrize(("body", "decoded"), GOOD_CHUNKS.values(), ids=list(GOOD_CHUNKS))
def test_chunked_bodies_within_the_grammar_are_served(
    target: RunningServer, body: bytes, decoded: bytes
) -> None:
    raw = converse(target, post(b"Transfer-Encoding: chunked\r\n", body) + NEXT)
    assert raw.count(b"HTTP/1.1 200 OK") == 2, raw[:600]
    assert raw.partition(b"\r\n\r\n")[2].startswith(b"ran:" + decoded + b"HTTP/1.1 200 OK")
    assert Recorder.ran == ["/", "/next"]


# -- in memory: both backends agree, however the bytes arrive ------------------------------

CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
BACKENDS = sorted(PARSERS)


@pytest.fixture(params=BACKENDS)
def backend_name(request: Any) -> str:
    return str(request.param)


@pytest.mark.parametrize("feed", [whole, bytewise])
@pytest.mark.parametrize("body", BAD_CHUNKS.values(), ids=list(BAD_CHUNKS))
def test_decoder_refuses_bad_chunked_framing(backend_name: str, feed: Any, body: bytes) -> None:
    events = run(backend_name, feed(CHUNKED + body + HIDDEN))
    assert events[-1][:2] == ("error", 400), events
    assert [e[0] for e in events].count("head") == 1


@pytest.mark.parametrize("feed", [whole, bytewise])
@pytest.mark.parametrize(("body", "decoded"), GOOD_CHUNKS.values(), ids=list(GOOD_CHUNKS))
def test_decoder_accepts_the_grammar(backend_name: str, feed: Any, body: bytes, decoded: bytes) -> None:
    events = run(backend_name, feed(CHUNKED + body + NEXT))
    expected_body = [("body", decoded)] if decoded else []
    assert [e[0] for e in events] == ["head", *(e[0] for e in expected_body), "end", "head", "end"]
    assert events[1:-3] == expected_body


def test_chunk_line_limit_is_exact(backend_name: str) -> None:
    """4096 bytes with the CRLF are accepted, 4097 refused, whole or byte by byte."""
    for extra, outcome in ((0, "end"), (1, "error")):
        line = b"5;a=" + b"b" * (MAX_CHUNK_LINE - 6 + extra) + b"\r\n"
        assert len(line) == MAX_CHUNK_LINE + extra
        for feed in (whole, bytewise):
            events = run(backend_name, feed(CHUNKED + line + b"hello\r\n0\r\n\r\n"))
            assert events[-1][0] == outcome, (extra, events[-1])


def test_chunked_body_over_the_limit_is_refused_at_its_chunk_line(backend_name: str) -> None:
    events = run(backend_name, whole(CHUNKED + b"6\r\nhello \r\n5\r\n"), body_limit=10, eof=False)
    assert events[-2:] == [("body", b"hello "), ("error", 413, None, None)]


def test_client_leaving_mid_chunk_is_a_silent_close(backend_name: str) -> None:
    for cut in (b"5", b"5\r", b"5\r\nhel", b"5\r\nhello", b"5\r\nhello\r", b"5\r\nhello\r\n0\r\nX: y"):
        assert run(backend_name, whole(CHUNKED + cut))[-1] == ("error", 0, None, None), cut
