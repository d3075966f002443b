"""HTTP/1.0 clients that ask for keep-alive (``ab -k``) are told the connection is kept.

An HTTP/1.0 client keeps a connection only for a response that carries
``Connection: keep-alive`` (RFC 9112 appendix C.2.2); without it ApacheBench waits for the
close that the idle timeout brings, and crawls at two requests a second.
"""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
from typing import Any

import pytest

from .conftest import server_class_for
from .handlers import BODY, Hello, Quiet


class AsyncHello(Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    async def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


def start(serve: Any, run_mode: str) -> Any:
    return serve(AsyncHello if run_mode == "async" else Hello, server_class_for(run_mode))


def test_two_http10_keep_alive_requests_on_one_connection(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    request = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        file = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(request)
            status = file.readline()
            head = []
            while (line := file.readline()) not in (b"\r\n", b""):
                head.append(line.lower())
            assert status.startswith(b"HTTP/1.1 200 ")
            assert b"connection: keep-alive\r\n" in head
            assert file.read(len(BODY)) == BODY


def test_http10_without_keep_alive_is_closed(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    answer = server.raw(b"GET / HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(BODY)
    assert b"keep-alive" not in answer.lower()


@pytest.mark.timeout(60)
def test_ab_keep_alive(serve: Any, run_mode: str) -> None:
    """``ab -k``: every request kept alive, none failed, in seconds (50 s before)."""
    server = start(serve, run_mode)
    result = subprocess.run(
        ["ab", "-k", "-q", "-n", "400", "-c", "10", "-s", "10", server.url("/")],
        capture_output=True, text=True, timeout=40, check=True,
    )  # fmt: skip
    report = dict(re.findall(r"^([A-Za-z -]+):\s+(\S+)", result.stdout, re.MULTILINE))
    assert report["Complete requests"] == "400"
    assert report["Failed requests"] == "0"
    assert report["Keep-Alive requests"] == "400"
