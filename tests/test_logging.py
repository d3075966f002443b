"""Access lines: the stdlib's format by default, through logging, configurable, silenceable."""

from __future__ import annotations

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


def get(server: Any, path: str = "/p?q=1") -> None:
    conn = server.connection()
    conn.request("GET", path, headers={"User-Agent": "tester/1"})
    conn.getresponse().read()
    conn.close()


def test_default_access_line_is_the_stdlib_line_on_stderr(serve: Any, capsys: Any) -> None:
    server = serve(Loud)
    get(server)
    time.sleep(0.05)
    lines = capsys.readouterr().err.splitlines()
    assert any(STDLIB_LINE.match(line) for line in lines), lines


def test_custom_format_to_a_file(serve: Any, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = ServerConfig(access_log=str(log), access_log_format='%h "%r" %s %b %{User-Agent}i %m %U %q %H')
    try:
        server = serve(Loud, config=config)
        get(server)
        deadline = time.monotonic() + 5
        while not log.exists() or not log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert log.read_text() == '127.0.0.1 "GET /p?q=1 HTTP/1.1" 200 2 tester/1 GET /p q=1 HTTP/1.1\n'
    finally:
        access = logging.getLogger("aiohttpbase.access")
        for handler in access.handlers:
            handler.close()
        access.handlers.clear()


def test_no_access_log_silences_stdlib_handlers(serve: Any, capsys: Any) -> None:
    server = serve(Loud, config=ServerConfig(access_log=None))
    get(server)
    assert '"GET' not in capsys.readouterr().err


def test_a_class_with_its_own_log_message_keeps_full_control(serve: Any) -> None:
    seen: list[str] = []

    class Own(Loud):
        def log_message(self, format: str, *args: Any) -> None:
            seen.append(format % args)

    server = serve(Own, config=ServerConfig(access_log=None))
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
