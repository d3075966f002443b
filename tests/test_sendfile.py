"""wfile.sendfile on the event loop: file bodies sent at the client's pace, bytes exact."""

from __future__ import annotations

import asyncio
import http.client
import io
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

import aiohttpbase
from aiohttpbase import ThreadingHTTPServer
from tests.conftest import recv_all

DATA = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


def make_handler(path: Path, run_mode: str = "inline") -> type:
    class FileHandler(aiohttpbase.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with open(path, "rb") as f:
                self.send_response(200)
                if self.path == "/length":
                    self.send_header("Content-Length", str(len(DATA)))
                self.end_headers()
                if self.path == "/pieces":  # bytes and file segments interleaved, chunked
                    self.wfile.write(b"<start>")
                    self.wfile.sendfile(f, 0, 1000)
                    self.wfile.write(b"<middle>")
                    self.wfile.sendfile(f, 1000)
                    self.wfile.write(b"<end>")
                else:
                    self.wfile.sendfile(f)

        do_HEAD = do_GET

    class AsyncFileHandler(FileHandler):
        async def do_GET(self) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            FileHandler.do_GET(self)  # the file is queued: closing it here is fine
            await self.wfile.drain()

        do_HEAD = do_GET  # type: ignore[assignment]

    return AsyncFileHandler if run_mode == "async" else FileHandler


# Worker threads refuse sendfile (test_worker_threads_refuse_sendfile_so_callers_copy).
ON_THE_LOOP = pytest.mark.parametrize("run_mode", ["inline", "async"])


@ON_THE_LOOP
def test_sendfile_with_length_chunked_and_interleaved(serve: Any, data_file: Path, run_mode: str) -> None:
    server = serve(make_handler(data_file, run_mode))
    conn = server.connection()
    for _ in range(2):  # keep-alive after a file body
        conn.request("GET", "/length")
        response = conn.getresponse()
        assert response.getheader("Content-Length") == str(len(DATA))
        assert response.read() == DATA
        conn.request("GET", "/chunked")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == DATA
        conn.request("GET", "/pieces")
        assert conn.getresponse().read() == b"<start>" + DATA[:1000] + b"<middle>" + DATA[1000:] + b"<end>"
        conn.request("HEAD", "/length")
        response = conn.getresponse()
        assert response.read() == b""
    conn.close()


@ON_THE_LOOP
def test_sendfile_to_a_slow_reader_keeps_the_loop_free(serve: Any, data_file: Path, run_mode: str) -> None:
    server = serve(make_handler(data_file, run_mode))
    slow = socket.create_connection((server.host, server.port), timeout=10)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    slow.sendall(b"GET /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(0.2)
    start = time.perf_counter()
    other = http.client.HTTPConnection(server.host, server.port, timeout=5)
    other.request("HEAD", "/length")
    other.getresponse().read()
    other.close()
    assert time.perf_counter() - start < 0.5
    raw = recv_all(slow)
    slow.close()
    assert raw.partition(b"\r\n\r\n")[2] == DATA


def test_worker_threads_refuse_sendfile_so_callers_copy(serve: Any, data_file: Path) -> None:
    class Probe(aiohttpbase.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            with open(data_file, "rb") as f:
                try:
                    self.wfile.sendfile(f)
                except io.UnsupportedOperation:
                    self.wfile.write(b"ok")

    server = serve(Probe, ThreadingHTTPServer)
    conn = server.connection()
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"ok"
    conn.close()
