"""Chunked request bodies reach stdlib handlers as they read bodies: whole, with a
Content-Length; and a malformed one is refused with the same 400 in every run mode.

Nearly every ``http.server`` handler reads ``self.rfile.read(int(self.headers["Content-Length"]))``;
clients and proxies send chunked bodies (curl with ``Transfer-Encoding: chunked``, requests
with a generator).  By default the server decodes and buffers such a body before the handler
runs (``ServerConfig.buffer_chunked_body``), in memory up to 1 MiB and then in a temporary file,
and the handler sees ``Content-Length: N`` instead of ``Transfer-Encoding``.  ``async def``
handlers, and threaded ones with the setting off, stream it and read to EOF.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from aiohttpbase import ServerConfig, ThreadingHTTPServer

from .conftest import read_until_closed, server_class_for
from .handlers import Quiet

MiB = 1024 * 1024


def report(handler: Any, data: bytes) -> None:
    body = json.dumps(
        {
            "content-length": handler.headers.get("Content-Length"),
            "transfer-encoding": handler.headers.get("Transfer-Encoding"),
            "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    ).encode()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class StdlibUpload(Quiet, http.server.BaseHTTPRequestHandler):
    """Reads the body the way stdlib handlers do: by its Content-Length (0 without one)."""

    protocol_version = "HTTP/1.1"
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        report(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))


class StreamingUpload(StdlibUpload):
    """Reads a chunked body to its end (what a streaming handler does)."""

    def do_POST(self) -> None:
        type(self).calls += 1
        length = self.headers.get("Content-Length")
        report(self, self.rfile.read(int(length)) if length is not None else self.rfile.read())


class AsyncUpload(StdlibUpload):
    async def do_POST(self) -> None:  # type: ignore[override]
        type(self).calls += 1
        length = self.headers.get("Content-Length")
        report(self, await self.rfile.aread(int(length) if length is not None else -1))


def start(serve: Any, run_mode: str, **config: Any) -> Any:
    handler = AsyncUpload if run_mode == "async" else StdlibUpload
    handler.calls = 0
    return serve(handler, server_class_for(run_mode), config=ServerConfig(**config))


def expected(data: bytes, buffered: bool) -> dict[str, Any]:
    return {
        "content-length": str(len(data)) if buffered else None,
        "transfer-encoding": None if buffered else "chunked",
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def pieces(data: bytes, size: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [0, 10, 200_000, 3 * MiB])  # 3 MiB goes to a temporary file
def test_chunked_upload_from_requests(serve: Any, run_mode: str, size: int) -> None:
    server = start(serve, run_mode)
    data = os.urandom(size)
    response = requests.post(server.url("/"), data=pieces(data), timeout=30)  # a generator: chunked
    assert response.status_code == 200
    # async handlers stream the body; the other modes see it whole, with its length.
    assert response.json() == expected(data, buffered=run_mode != "async")


@pytest.mark.timeout(60)
def test_chunked_upload_from_curl(serve: Any, run_mode: str, tmp_path: Any) -> None:
    server = start(serve, run_mode)
    data = os.urandom(1_500_000)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}",
         server.url("/")],
        capture_output=True, check=True, timeout=40,
    )  # fmt: skip
    assert json.loads(result.stdout) == expected(data, buffered=run_mode != "async")


@pytest.mark.timeout(60)
def test_streaming_when_turned_off(serve: Any) -> None:
    """``buffer_chunked_body=False``: a threaded handler reads the chunked body as it comes."""
    StreamingUpload.calls = 0
    server = serve(StreamingUpload, ThreadingHTTPServer, config=ServerConfig(buffer_chunked_body=False))
    data = os.urandom(2 * MiB)
    response = requests.post(server.url("/"), data=pieces(data), timeout=30)
    assert response.json() == expected(data, buffered=False)


def test_chunked_body_over_the_buffer_limit_is_413(serve: Any, run_mode: str) -> None:
    if run_mode == "async":
        server = start(serve, run_mode, max_body_bytes=1000)  # streamed: the overall limit
    else:
        server = start(serve, run_mode, max_buffered_body_bytes=1000)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"3e8\r\n" + b"a" * 1000 + b"\r\n1\r\nb\r\n0\r\n\r\n")
        answer = read_until_closed(sock, 10)
    assert answer.startswith(b"HTTP/1.1 413 ")
    if run_mode != "async":
        assert StdlibUpload.calls == 0  # refused before any handler code ran


BAD_BODIES = {
    "0x-prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "plus-sign": b"+5\r\nhello\r\n0\r\n\r\n",
    "leading-space": b" 5\r\nhello\r\n0\r\n\r\n",
    "negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "underscore": b"5_0\r\nhello\r\n0\r\n\r\n",
    "bare-cr": b"5\rhello\r\n0\r\n\r\n",
    "data-longer-than-size": b"5\r\nhello!!\r\n0\r\n\r\n",
    "no-crlf-after-data": b"5\r\nhello0\r\n\r\n",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("body", sorted(BAD_BODIES))
def test_malformed_chunked_body_is_400_in_every_mode(serve: Any, run_mode: str, body: str) -> None:
    """The same 400 as ``HTTPServer`` gives, whatever the mode and wherever the body
    turns out malformed; a buffering mode never calls the handler."""
    server = start(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + BAD_BODIES[body])
        answer = read_until_closed(sock, 10)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    if run_mode != "async":
        assert StdlibUpload.calls == 0
