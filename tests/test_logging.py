"""Access lines: the stdlib's format by default, through logging, configurable, silenceable."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import logging
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from aiohttpbase.logs import AccessLog, RequestFacts
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
