"""Access lines: the stdlib's format by default, through logging, configurable, silenceable."""

from __future__ import annotations

import asyncio
import functools
import http.client
import http.server
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase import HTTPServer, ServerConfig, SimpleHTTPRequestHandler, ThreadingHTTPServer
from aiohttpbase._events import RequestError
from aiohttpbase._streams import ConnectionProxy
from aiohttpbase.logs import AccessLog, RequestFacts, facts_of_refusal, logged_status
from tests.conftest import server_class_for

STDLIB_LINE = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\] "GET /p\?q=1 HTTP/1\.1" 200 -$'
)


class Loud(http.server.BaseHTTPRequestHandler):
    """A stdlib handler that keeps the stdlib's log_message."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class AsyncLoud(Loud):
    async def do_GET(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        Loud.do_GET(self)


def loud_for(run_mode: str) -> type:
    return AsyncLoud if run_mode == "async" else Loud


def get(server: Any, path: str = "/p?q=1") -> None:
    conn = server.connection()
    conn.request("GET", path, headers={"User-Agent": "tester/1"})
    conn.getresponse().read()
    conn.close()


def wait_for_lines(log: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while not log.exists() or len(log.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log file"
        time.sleep(0.02)
    return log.read_text().splitlines()


@pytest.fixture
def access_file(tmp_path: Path) -> Any:
    """A path for ``ServerConfig(access_log=...)``; the file handler is closed afterwards."""
    yield tmp_path / "access.log"
    access = logging.getLogger("aiohttpbase.access")
    for handler in access.handlers:
        handler.close()
    access.handlers.clear()


def test_default_access_line_is_the_stdlib_line_on_stderr(serve: Any, run_mode: str, capsys: Any) -> None:
    server = serve(loud_for(run_mode), server_class_for(run_mode))
    get(server)
    time.sleep(0.05)
    lines = capsys.readouterr().err.splitlines()
    assert any(STDLIB_LINE.match(line) for line in lines), lines


def test_custom_format_to_a_file(serve: Any, run_mode: str, access_file: Path) -> None:
    config = ServerConfig(
        access_log=str(access_file), access_log_format='%h "%r" %s %b %{User-Agent}i %m %U %q %H'
    )
    server = serve(loud_for(run_mode), server_class_for(run_mode), config=config)
    get(server)
    assert wait_for_lines(access_file, 1) == [
        '127.0.0.1 "GET /p?q=1 HTTP/1.1" 200 2 tester/1 GET /p q=1 HTTP/1.1'
    ]


class Sizes(http.server.BaseHTTPRequestHandler):
    """Responses of every framing, each with a known body size."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path
        if path == "/length":
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"12345")
        elif path == "/chunked":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"abc")
            self.wfile.write(b"defg")
        elif path == "/204":
            self.send_response(204)
            self.end_headers()
        elif path == "/missing":
            self.send_error(404)
        elif path == "/raise":
            raise RuntimeError("boom")
        elif path == "/raise-after-some-body":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"12345")  # held back with the head (inline, async): a 500 replaces both
            raise RuntimeError("boom")

    do_HEAD = do_GET


class AsyncSizes(Sizes):
    async def do_GET(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        Sizes.do_GET(self)

    do_HEAD = do_GET  # type: ignore[assignment]


REQUESTS = [
    ("GET", "/length"),
    ("HEAD", "/length"),
    ("GET", "/chunked"),
    ("GET", "/204"),
    ("GET", "/missing"),
]


def exchange(server: Any, method: str, path: str) -> tuple[int, int]:
    """Status and body size as the client received them, on a connection of their own."""
    conn = server.connection()
    conn.request(method, path)
    response = conn.getresponse()
    size = len(response.read())
    conn.close()
    return response.status, size


def logged(status: int, size: int) -> str:
    return f"{status} {size or '-'}"


def test_status_and_size_are_what_the_client_got(
    serve: Any, run_mode: str, access_file: Path, capsys: Any
) -> None:
    config = ServerConfig(access_log=str(access_file), access_log_format="%r %s %b")
    server = serve(AsyncSizes if run_mode == "async" else Sizes, server_class_for(run_mode), config=config)
    server.server.handle_error = lambda *args: None
    expected = []
    for method, path in [*REQUESTS, ("GET", "/raise")]:
        status, size = exchange(server, method, path)
        expected.append(f"{method} {path} HTTP/1.1 {logged(status, size)}")
    assert [line.split()[-2] for line in expected] == ["200", "200", "200", "204", "404", "500"]
    assert wait_for_lines(access_file, len(expected)) == expected


def test_size_of_a_500_that_replaced_a_partial_response(
    serve: Any, run_mode: str, access_file: Path, request: Any
) -> None:
    """Inline and async, the 500 page replaces a response that was still held back, and the
    line shows the page's size.  On a thread the head and body went out as written (as in
    the stdlib): the client has a cut-off 200 and the line says so."""
    config = ServerConfig(access_log=str(access_file), access_log_format="%r %s %b")
    server = serve(AsyncSizes if run_mode == "async" else Sizes, server_class_for(run_mode), config=config)
    server.server.handle_error = lambda *args: None
    raw = server.raw(b"GET /raise-after-some-body HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert (status, body) == ((200, b"12345") if run_mode == "thread" else (500, body))
    assert wait_for_lines(access_file, 1) == [
        f"GET /raise-after-some-body HTTP/1.1 {logged(status, len(body))}"
    ]


def test_no_access_log_silences_stdlib_handlers(serve: Any, run_mode: str, capsys: Any) -> None:
    server = serve(loud_for(run_mode), server_class_for(run_mode), config=ServerConfig(access_log=None))
    get(server)
    assert '"GET' not in capsys.readouterr().err


def test_a_class_with_its_own_log_message_keeps_full_control(serve: Any, run_mode: str) -> None:
    seen: list[str] = []

    class Own(loud_for(run_mode)):  # type: ignore[misc]
        def log_message(self, format: str, *args: Any) -> None:
            seen.append(format % args)

    server = serve(Own, server_class_for(run_mode), config=ServerConfig(access_log=None))
    get(server)
    assert seen == ['"GET /p?q=1 HTTP/1.1" 200 -']


def test_control_characters_are_escaped() -> None:
    line = AccessLog('"%r"').line(
        RequestFacts("1.2.3.4", "GET /\x1b[31mred HTTP/1.1", "GET", "/", "HTTP/1.1", [], 200, 0, 0.0)
    )
    assert line == '"GET /\\x1b[31mred HTTP/1.1"'


def test_unknown_atom_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="%Z"):
        AccessLog("%Z")


def test_command_line_no_access_log_and_format(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohttpbase", "-b", "127.0.0.1", "-d", str(tmp_path),
         "--access-log-format", "ACCESS %s %r", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        port = int(re.search(r"port (\d+)", banner).group(1))  # type: ignore[union-attr]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/a.txt")
        assert conn.getresponse().read() == b"x"
        conn.close()
        time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "ACCESS 200 GET /a.txt HTTP/1.1" in err


# -- the status of an HTTP/0.9 answer, and requests refused before a handler ran ----------------
#
# Both need the server's side to hand the access log what it lacks today (see the report of
# the access-log work): the code ``send_response`` logged, for an answer that has no status
# line to read it from, and the request line of a refused request.  Until that is in
# (``ConnectionProxy.logged_status``, ``RequestError.request_line``), these tests are marked
# expected to fail and not run (each would wait out its deadline); once it is, they run.

_STATUS_WIRED = "logged_status" in ConnectionProxy.__slots__
_REFUSAL_WIRED = "request_line" in RequestError.__slots__
needs_logged_status = pytest.mark.xfail(
    not _STATUS_WIRED,
    run=False,
    reason="the server does not yet pass the code send_response logged (ConnectionProxy.logged_status)",
)
needs_refusal_line = pytest.mark.xfail(
    not _REFUSAL_WIRED,
    run=False,
    reason="refusals do not yet carry their request line (RequestError.request_line) nor write an access line",
)

_STAMP = re.compile(r"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\] ")


def send_raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a connection of its own; what came back before the server closed
    it (a reset after an early answer, as to a 414, counts as the close)."""
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def stdlib_lines(handler: type, data: bytes, count: int, **keywords: Any) -> list[str]:
    """What the stdlib's own server logs (``log_message``'s text, without the address and
    time) for a connection that sends ``data``, serving ``handler(..., **keywords)``: the
    reference."""
    seen: list[str] = []

    class Recording(handler):  # type: ignore[misc,valid-type]
        def log_message(self, format: str, *args: Any) -> None:
            seen.append(format % args)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recording, **keywords))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        send_raw(server.server_address[1], data)
        deadline = time.monotonic() + 5
        while len(seen) < count:
            assert time.monotonic() < deadline, seen
            time.sleep(0.01)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    return seen


def access_lines(access_file: Path, count: int) -> list[str]:
    """The access lines in the default format, without the address and time."""
    lines = wait_for_lines(access_file, count)
    assert all(_STAMP.match(line) for line in lines), lines
    return [_STAMP.sub("", line) for line in lines]


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "docroot"
    root.mkdir()
    (root / "f.txt").write_bytes(b"simple\n")
    return root


@needs_logged_status
@pytest.mark.parametrize("server_class", [HTTPServer, ThreadingHTTPServer], ids=["inline", "thread"])
@pytest.mark.parametrize(("path", "status"), [("/f.txt", 200), ("/nope", 404)])
def test_http09_request_is_logged_with_the_status_sent(
    serve: Any, server_class: Any, docroot: Path, access_file: Path, path: str, status: int
) -> None:
    """An HTTP/0.9 answer is the bare body: no status line, but the access line shows the
    code ``send_response`` was called with, as the stdlib's ``log_request`` does."""
    config = ServerConfig(access_log=str(access_file))
    server = serve(
        functools.partial(SimpleHTTPRequestHandler, directory=docroot), server_class, config=config
    )
    answer = send_raw(server.port, f"GET {path}\r\n".encode())
    assert not answer.startswith(b"HTTP/")  # HTTP/0.9: the body alone
    if status == 200:
        assert answer == b"simple\n"
    # The stdlib of 3.11 still reads header lines after a simple request: a blank line ends them.
    request = f"GET {path}\r\n\r\n".encode()
    stdlib = stdlib_lines(
        http.server.SimpleHTTPRequestHandler, request, 2 if status == 404 else 1, directory=str(docroot)
    )
    expected = stdlib[-1]
    assert expected == f'"GET {path}" {status} -'
    assert access_lines(access_file, 1) == [expected]


_MANY_FIELDS = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n"
REFUSED = [
    pytest.param(b"GARBAGE\r\n\r\n", '"GARBAGE" 400 -', id="syntax-400"),
    pytest.param(b"POST /\r\n\r\n", '"POST /" 400 -', id="http09-post-400"),
    pytest.param(b"GET / HTTP/2.0\r\n\r\n", '"GET / HTTP/2.0" 505 -', id="version-505"),
    pytest.param(_MANY_FIELDS, '"GET / HTTP/1.1" 431 -', id="fields-431"),
    # No whole request line came: the stdlib's requestline is still empty.
    pytest.param(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", '"" 414 -', id="line-414"),
]


@needs_refusal_line
@pytest.mark.parametrize(("data", "line"), REFUSED)
def test_refused_request_gets_the_stdlib_access_line(
    serve: Any, access_file: Path, capsys: Any, data: bytes, line: str
) -> None:
    """The stdlib answers these from ``parse_request`` with ``send_error``, which logs
    ``code 400, message ...`` (log_error) and then the access line with the request line
    as received (log_request); aiohttpbase refuses them before any handler runs and writes
    the same two lines, the access line through ``aiohttpbase.access``."""
    stdlib = stdlib_lines(Loud, data, 2)
    assert stdlib[1] == line, stdlib
    server = serve(Loud, config=ServerConfig(access_log=str(access_file)))
    answer = send_raw(server.port, data)
    assert answer.startswith(b"HTTP/1.1 " + line.rsplit(" ", 2)[1].encode())
    assert access_lines(access_file, 1) == [line]
    errors = [_STAMP.sub("", text) for text in capsys.readouterr().err.splitlines() if _STAMP.match(text)]
    assert errors == [stdlib[0]]


# A class with its own log_message already logged "" for a 414, the one refusal without a line.
OWN_REFUSED = [
    param if param.id == "line-414" else pytest.param(*param.values, id=param.id, marks=needs_refusal_line)
    for param in REFUSED
]


@pytest.mark.parametrize(("data", "line"), OWN_REFUSED)
def test_refused_request_on_a_class_with_its_own_log_message(serve: Any, data: bytes, line: str) -> None:
    """A class that writes its own lines gets the stdlib's two, with the request line."""
    seen: list[str] = []

    class Own(Loud):
        def log_message(self, format: str, *args: Any) -> None:
            seen.append(format % args)

    server = serve(Own, config=ServerConfig(access_log=None))
    send_raw(server.port, data)
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == stdlib_lines(Loud, data, 2)
    assert seen[1] == line


@needs_refusal_line
def test_refusal_after_a_served_request_on_one_connection(serve: Any, access_file: Path) -> None:
    """Each request of a keep-alive connection has its line: the refused one too, with its
    own request line (and not taken for logged because the one before it was)."""
    data = b"GET /p HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    server = serve(Loud, config=ServerConfig(access_log=str(access_file)))
    answer = send_raw(server.port, data)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 400 " in answer
    assert access_lines(access_file, 2) == ['"GET /p HTTP/1.1" 200 -', '"GET / HTTP/1.1" 400 -']


def test_logged_status_of_what_log_request_is_given() -> None:
    assert logged_status(HTTPStatus.NOT_FOUND) == 404
    assert logged_status(200) == 200
    assert logged_status("304") == 304
    assert logged_status("-") == 0
    assert logged_status("\uff12\uff10\uff10") == 0  # digits, but not ASCII ones
    assert logged_status(None) == 0
    assert logged_status(True) == 0


def test_facts_of_a_refusal() -> None:
    line = AccessLog('"%r" %s %m %U %q %H %{Host}i %b').line
    assert line(facts_of_refusal("1.2.3.4", b"GET /a?b=1 HTTP/1.1", 431, 0, 0.0)) == (
        '"GET /a?b=1 HTTP/1.1" 431 GET /a b=1 HTTP/1.1 - -'
    )
    assert line(facts_of_refusal("1.2.3.4", b"GARBAGE", 400, 120, 0.0)) == '"GARBAGE" 400     - 120'
    assert line(facts_of_refusal("1.2.3.4", None, 414, 0, 0.0)) == '"" 414     - -'
    assert line(facts_of_refusal("1.2.3.4", b"POST /x", 400, 0, 0.0)) == '"POST /x" 400 POST /x  HTTP/0.9 - -'
