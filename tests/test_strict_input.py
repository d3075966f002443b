"""Issue 11, parts 3 and 4: input refused where the strictest peers refuse it, and the
stdlib's answers kept where no safety is at stake.

Every behaviour runs on each parser backend and in each run mode (inline, thread pool,
``async def``), over loopback with a follow-up request hidden behind the bad one: a
refused request is answered (400 unless said otherwise) with ``Connection: close``, the
connection is closed, and nothing after it ever runs.  Where the stdlib's answer is the
reference (HTTP/0.9 with ``default_request_version``, error pages of handler classes
with state from ``__init__``) a ``http.server.HTTPServer`` serving the same class is asked
the same question.  The in-memory tests at the end pin the chunked decoder's grammar on
both backends, fed whole and a byte at a time, and check that the backends give the same
refusals.
"""

from __future__ import annotations

import functools
import html
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from aiohttpbase._chunked import MAX_CHUNK_LINE
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


# -- Transfer-Encoding -------------------------------------------------------------------

_CL = b"Content-Length: 5\r\n"
TRANSFER_CODINGS = {
    # A list that does not end in one chunked: the body's length is unknown (RFC 9112 6.3).
    "chunked, gzip": (b"Transfer-Encoding: chunked, gzip\r\n", 400),
    "chunked, chunked": (b"Transfer-Encoding: chunked, chunked\r\n", 400),
    "gzip": (b"Transfer-Encoding: gzip\r\n", 400),
    "identity": (b"Transfer-Encoding: identity\r\n", 400),
    "xchunked": (b"Transfer-Encoding: xchunked\r\n", 400),
    "empty": (b"Transfer-Encoding: \r\n", 400),
    "leading comma": (b"Transfer-Encoding: , chunked\r\n", 400),
    "trailing comma": (b"Transfer-Encoding: chunked,\r\n", 400),
    "double comma": (b"Transfer-Encoding: gzip,,chunked\r\n", 400),
    "parameter on chunked": (b"Transfer-Encoding: chunked;q=1\r\n", 400),
    "two fields that disagree": (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 400),
    "two fields, the last not chunked": (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400),
    "two chunked fields": (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400),
    # With a Content-Length beside it, any Transfer-Encoding is the CL.TE shape.
    "gzip, chunked with CL": (_CL + b"Transfer-Encoding: gzip, chunked\r\n", 400),
    "chunked, gzip with CL": (_CL + b"Transfer-Encoding: chunked, gzip\r\n", 400),
    "empty with CL": (b"Transfer-Encoding: \r\n" + _CL, 400),
    # A clean list whose only fault is a coding the server cannot decode.
    "gzip, chunked": (b"Transfer-Encoding: gzip, chunked\r\n", 501),
    "GZIP ;level=9 , chunked": (b'Transfer-Encoding: GZIP ;level="9" , chunked\r\n', 501),
}


@pytest.mark.parametrize(("fields", "status"), TRANSFER_CODINGS.values(), ids=list(TRANSFER_CODINGS))
def test_transfer_encoding_that_is_not_one_clean_chunked_is_refused(
    target: RunningServer, fields: bytes, status: int
) -> None:
    raw = converse(target, post(fields, b"0\r\n\r\n" + HIDDEN))
    assert_refused(raw, status)
    assert Recorder.ran == []


def test_transfer_encoding_on_http10_is_400_even_when_malformed(target: RunningServer) -> None:
    for coding in (b"chunked", b"chunked, gzip", b"gzip, chunked"):
        raw = converse(target, post(b"Transfer-Encoding: " + coding + b"\r\n", b"0\r\n\r\n", b"HTTP/1.0"))
        assert_refused(raw)


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"CHUNKED", b" \tchunked \t"])
def test_a_single_chunked_in_any_case_is_served(target: RunningServer, coding: bytes) -> None:
    raw = converse(target, post(b"Transfer-Encoding:" + coding + b"\r\n", b"5\r\nhello\r\n0\r\n\r\n") + NEXT)
    assert raw.count(b"HTTP/1.1 200 OK") == 2 and b"ran:hello" in raw, raw[:600]


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


# -- Host --------------------------------------------------------------------------------

BAD_HOSTS = {
    "empty on HTTP/1.1": b"Host: \r\n",
    "userinfo": b"Host: user@example.com\r\n",
    "userinfo with password": b"Host: user:pw@example.com\r\n",
    "a path": b"Host: example.com/admin\r\n",
    "a query": b"Host: example.com?x\r\n",
    "a list": b"Host: a.example, b.example\r\n",
    "a list without space": b"Host: a.example,b.example\r\n",
    "whitespace inside": b"Host: a b\r\n",
    "a port that is not a number": b"Host: example.com:80x\r\n",
    "two colons": b"Host: example.com:80:81\r\n",
    "a bad percent-encoding": b"Host: ex%zzample\r\n",
    "obs-text": b"Host: b\xfccher.example\r\n",
    "a control character": b"Host: exam\x01ple\r\n",
    "an unclosed IP literal": b"Host: [::1\r\n",
}


@pytest.mark.parametrize("field", BAD_HOSTS.values(), ids=list(BAD_HOSTS))
def test_a_host_that_is_not_a_host_and_port_is_refused(target: RunningServer, field: bytes) -> None:
    raw = converse(target, b"GET / HTTP/1.1\r\n" + field + b"\r\n" + HIDDEN)
    assert_refused(raw)
    assert Recorder.ran == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: EXAMPLE.com.:8080\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: my_host-1.local\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: \r\n\r\n",  # empty: a target without an authority (RFC 9112 3.2)
        b"GET / HTTP/1.0\r\n\r\n",
    ],
)
def test_plain_hosts_are_served(target: RunningServer, request_bytes: bytes) -> None:
    raw = converse(target, request_bytes)
    assert raw.startswith(b"HTTP/1.1 200 OK") and Recorder.ran == ["/"], raw[:300]


# -- control characters in field values --------------------------------------------------


@pytest.mark.parametrize("byte", [0x01, 0x08, 0x0E, 0x1B, 0x1F, 0x7F])
@pytest.mark.parametrize("field", [b"X-Any", b"Content-Type", b"Host", b"Connection"])
def test_control_characters_in_a_field_value_are_refused(
    target: RunningServer, byte: int, field: bytes
) -> None:
    value = b"a" + bytes([byte]) + b"b"
    fields = (b"Host: x\r\n" if field != b"Host" else b"") + field + b": " + value + b"\r\n"
    raw = converse(target, b"GET / HTTP/1.1\r\n" + fields + b"\r\n" + HIDDEN)
    assert_refused(raw)
    assert Recorder.ran == []


def test_htab_and_obs_text_in_a_field_value_are_served(target: RunningServer) -> None:
    raw = converse(target, b"GET / HTTP/1.1\r\nHost: x\r\nX: a\tb \x80\xe9\xff\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK") and Recorder.ran == ["/"], raw[:300]


# -- the asterisk form -------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"options * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET * HTTP/1.0\r\n\r\n",
        b"GET *\r\n",  # HTTP/0.9
    ],
)
def test_asterisk_target_is_for_options_only(target: RunningServer, request_bytes: bytes) -> None:
    raw = converse(target, request_bytes + HIDDEN)
    assert_refused(raw)
    assert Recorder.ran == []


def test_options_asterisk_is_served(target: RunningServer) -> None:
    raw = converse(target, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + NEXT)
    assert raw.count(b"HTTP/1.1 200 OK") == 2 and Recorder.ran == ["*", "/next"], raw[:600]


# -- the stdlib's answers kept: 414 and 413 -----------------------------------------------


def test_endless_request_line_is_414_and_long_content_length_413(
    serve: Any, parser: str, run_mode: str
) -> None:
    handler = AsyncRecorder if run_mode == "async" else Recorder
    server = serve(handler, server_class_for(run_mode), config=ServerConfig(max_body_bytes=10))
    raw = converse(server, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    # The stdlib's phrases (3.13 renamed them: "URI Too Long", "Content Too Large").
    assert raw.startswith(b"HTTP/1.1 414 %s\r\n" % HTTPStatus(414).phrase.encode()), raw[:200]
    raw = converse(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
    assert raw.startswith(b"HTTP/1.1 413 %s\r\n" % HTTPStatus(413).phrase.encode()), raw[:200]


# -- HTTP/0.9 and default_request_version (differential against the stdlib) --------------


class Simple(http.server.BaseHTTPRequestHandler):
    """A stdlib handler as CPython's own tests write them."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"version %s\n" % self.request_version.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AsyncSimple(Simple):
    async def do_GET(self) -> None:  # type: ignore[override]
        Simple.do_GET(self)


class Simple09(Simple):
    default_request_version = "HTTP/0.9"


class AsyncSimple09(AsyncSimple):
    default_request_version = "HTTP/0.9"


def stdlib_answer(handler: Any, data: bytes) -> bytes:
    """What ``http.server.HTTPServer`` serving ``handler`` answers to ``data``."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    running = RunningServer(server)
    try:
        return converse(running, data)
    finally:
        server.shutdown()
        running.thread.join(10)
        server.server_close()


def without_date(raw: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", raw)


@pytest.mark.parametrize(("sync", "async_"), [(Simple, AsyncSimple), (Simple09, AsyncSimple09)])
def test_http09_request_answered_by_default_request_version(
    serve: Any, run_mode: str, sync: Any, async_: Any
) -> None:
    """``GET /`` alone: the bare body where default_request_version is HTTP/0.9, and a
    status line and headers where a class sets HTTP/1.1 -- the stdlib's bytes either way."""
    expected = stdlib_answer(sync, b"GET /\r\n")
    assert expected.startswith(b"HTTP/1.1 200 OK\r\n") == (sync is Simple), expected
    server = serve(async_ if run_mode == "async" else sync, server_class_for(run_mode))
    assert without_date(converse(server, b"GET /\r\n")) == without_date(expected)


# -- error pages from handler classes with state of their own ------------------------------


class InitLogger(http.server.BaseHTTPRequestHandler):
    """Sets up its logging in ``__init__`` before the stdlib's, as many handlers do."""

    protocol_version = "HTTP/1.1"
    lines: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.log = InitLogger.lines.append
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:
        self.log(format % args)

    def do_GET(self) -> None:
        if self.path == "/fail":
            raise RuntimeError("handler failure (expected by the test)")
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET


def init_logger_for(run_mode: str) -> Any:
    """The class for every run mode: with its own ``__init__`` it is replayed through the
    stdlib's code, which cannot await ``async def`` methods (such a class is refused with a
    TypeError, test_compat), so in the "async" mode it is served inline, as it would be."""
    InitLogger.lines = []
    return InitLogger


TOO_MANY_HEADERS = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 101 + b"\r\n"
TOO_LONG = b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("request_bytes", [TOO_LONG, TOO_MANY_HEADERS], ids=["414", "431"])
def test_error_page_of_a_class_with_init_state_matches_the_stdlib(
    serve: Any, run_mode: str, request_bytes: bytes
) -> None:
    InitLogger.lines = []
    expected = stdlib_answer(InitLogger, request_bytes)
    expected_log = [line for line in InitLogger.lines if line.startswith("code ")]
    server = serve(init_logger_for(run_mode), server_class_for(run_mode))
    raw = converse(server, request_bytes)
    assert [line for line in InitLogger.lines if line.startswith("code ")] == expected_log
    assert raw.split(b"\r\n", 1)[0] == expected.split(b"\r\n", 1)[0]
    if request_bytes is TOO_LONG:  # the same page (for 431 the stdlib explains more)
        assert raw.partition(b"\r\n\r\n")[2] == expected.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", 413),
        (b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n", 500),
    ],
    ids=["400-host", "400-te", "413", "500"],
)
def test_error_page_of_a_class_with_init_state_is_sent(
    serve: Any, run_mode: str, request_bytes: bytes, status: int, capsys: Any
) -> None:
    config = ServerConfig(max_body_bytes=10)
    server = serve(init_logger_for(run_mode), server_class_for(run_mode), config=config)
    raw = converse(server, request_bytes)
    assert raw.startswith(b"HTTP/1.1 %d " % status), raw[:300]
    assert b"</html>" in raw
    assert any(line.startswith("code %d, message " % status) for line in InitLogger.lines), InitLogger.lines
    assert "AttributeError" not in capsys.readouterr().err


class NeedsGreeting(http.server.BaseHTTPRequestHandler):
    """A factory's argument is needed to construct it: served through functools.partial."""

    protocol_version = "HTTP/1.1"
    error_message_format = "%(code)d %(message)s: %(greeting)s"
    lines: list[str] = []

    def __init__(self, *args: Any, greeting: str, **kwargs: Any) -> None:
        self.greeting = greeting
        super().__init__(*args, **kwargs)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.error_message_format = NeedsGreeting.error_message_format.replace("%(greeting)s", self.greeting)
        super().send_error(code, message, explain)

    def log_message(self, format: str, *args: object) -> None:
        self.lines.append(format % args)


def test_error_page_of_a_partial_gets_the_partial_arguments(serve: Any, run_mode: str) -> None:
    server = serve(functools.partial(NeedsGreeting, greeting="hello"), server_class_for(run_mode))
    raw = converse(server, b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ") and raw.endswith(b"400 Bad Request: hello"), raw[-300:]


class BrokenFormat(http.server.BaseHTTPRequestHandler):
    """Its error page cannot be made: the stdlib answers nothing at all."""

    protocol_version = "HTTP/1.1"
    error_message_format = "%(no_such_key)s"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()


class LogFails(BrokenFormat):
    error_message_format = http.server.DEFAULT_ERROR_MESSAGE

    def log_message(self, format: str, *args: object) -> None:
        raise OSError("the log is gone")


class AsyncBrokenFormat(BrokenFormat):
    async def do_GET(self) -> None:  # type: ignore[override]
        BrokenFormat.do_GET(self)


class AsyncLogFails(LogFails):
    async def do_GET(self) -> None:  # type: ignore[override]
        LogFails.do_GET(self)


@pytest.mark.parametrize(("sync", "async_"), [(BrokenFormat, AsyncBrokenFormat), (LogFails, AsyncLogFails)])
def test_error_page_falls_back_to_the_stdlib_page_when_the_class_fails(
    serve: Any, run_mode: str, sync: Any, async_: Any, capsys: Any
) -> None:
    assert stdlib_answer(sync, TOO_MANY_HEADERS) == b""  # the stdlib: nothing, a traceback
    capsys.readouterr()
    server = serve(async_ if run_mode == "async" else sync, server_class_for(run_mode))
    raw = converse(server, TOO_MANY_HEADERS)
    assert raw.startswith(b"HTTP/1.1 431 Too many headers\r\n"), raw[:300]
    body = raw.partition(b"\r\n\r\n")[2]
    explain = html.escape(HTTPStatus(431).description, quote=False)
    page = http.server.DEFAULT_ERROR_MESSAGE % {
        "code": HTTPStatus(431),  # as the stdlib passes it (before 3.11 str() names the member)
        "message": "Too many headers",
        "explain": explain,
    }
    assert body == page.encode()
    # The failure is reported as the stdlib reports a handler's (server.handle_error).
    assert ("KeyError" if sync is BrokenFormat else "the log is gone") in capsys.readouterr().err


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


@pytest.mark.parametrize(
    "data",
    [post(fields, b"0\r\n\r\n") for fields, _ in TRANSFER_CODINGS.values()]
    + [b"GET / HTTP/1.1\r\n" + field + b"\r\n" for field in BAD_HOSTS.values()]
    + [b"GET / HTTP/1.1\r\nHost: x\r\nX: a" + bytes([byte]) + b"\r\n\r\n" for byte in (1, 8, 14, 31, 127)]
    + [b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"],
)
def test_backends_give_the_same_refusal(data: bytes) -> None:
    """Status, message and explanation, event for event, on every backend."""
    results = {name: run(name, whole(data + NEXT)) for name in BACKENDS}
    assert len({repr(events) for events in results.values()}) == 1, results
    assert next(iter(results.values()))[-1][1] in (400, 501)
