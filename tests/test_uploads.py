"""Request bodies reach handlers whole, whatever the size, the read call and the run mode.

Every upload is checked by SHA-256 and length on the handler's side.  Bodies larger than
the read buffer's high-water mark (256 KiB) used to stall on the thread pool and in
``async def`` handlers until the body timeout, then came back short without an error.
Each test has a deadline (pytest-timeout) far below that timeout, which a stall exceeds.
"""

from __future__ import annotations

import gc
import hashlib
import http.client
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from aiohttpbase import ServerConfig
from aiohttpbase._streams import BodyReader

from .conftest import read_until_closed, server_class_for
from .handlers import Quiet

MiB = 1024 * 1024


def _read_lines(rfile: Any, length: int) -> bytes:
    parts = []
    while length:
        line = rfile.readline()
        assert line, "readline() returned b'' before the body's end"
        parts.append(line)
        length -= len(line)
    return b"".join(parts)


def _read_into(rfile: Any, length: int) -> bytes:
    buffer = bytearray(length)
    assert rfile.readinto(buffer) == length
    return bytes(buffer)


SYNC_READS = {
    "read-n": lambda rfile, n: rfile.read(n),
    "read-all": lambda rfile, n: rfile.read(),
    "readinto": _read_into,
    "readline": _read_lines,
}


async def _aread_lines(rfile: Any, length: int) -> bytes:
    parts = []
    while length:
        line = await rfile.areadline()
        assert line, "areadline() returned b'' before the body's end"
        parts.append(line)
        length -= len(line)
    return b"".join(parts)


async def _aread_n(rfile: Any, n: int) -> bytes:
    return bytes(await rfile.aread(n))


async def _aread_all(rfile: Any, n: int) -> bytes:
    return bytes(await rfile.aread())


async def _aread_into(rfile: Any, length: int) -> bytes:
    # The awaitable way to fill a buffer: aread1 pieces as they arrive.
    buffer = bytearray(length)
    filled = 0
    while filled < length:
        piece = await rfile.aread1(length - filled)
        assert piece, "aread1() returned b'' before the body's end"
        buffer[filled : filled + len(piece)] = piece
        filled += len(piece)
    return bytes(buffer)


ASYNC_READS = {"read-n": _aread_n, "read-all": _aread_all, "readinto": _aread_into, "readline": _aread_lines}


class Upload(Quiet, http.server.BaseHTTPRequestHandler):
    """The stdlib upload handler: reads the body with the read call its path names."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.answer(SYNC_READS[self.path.strip("/")](self.rfile, length))

    def answer(self, data: bytes) -> None:
        body = json.dumps({"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AsyncUpload(Upload):
    async def do_POST(self) -> None:  # type: ignore[override]
        length = int(self.headers["Content-Length"])
        self.answer(await ASYNC_READS[self.path.strip("/")](self.rfile, length))


def start(serve: Any, run_mode: str, **config: Any) -> Any:
    handler = AsyncUpload if run_mode == "async" else Upload
    return serve(handler, server_class_for(run_mode), config=ServerConfig(**config))


def body_of(size: int) -> bytes:
    # Random bytes have a newline every 256 bytes or so: readline() gets many lines.
    return os.urandom(size)


def expected(data: bytes) -> dict[str, Any]:
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def post(server: Any, path: str, data: bytes) -> dict[str, Any]:
    conn = server.connection(timeout=20)
    try:
        conn.request("POST", path, body=data)
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())  # type: ignore[no-any-return]
    finally:
        conn.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [1 * MiB, 8 * MiB])
@pytest.mark.parametrize("read", sorted(SYNC_READS))
def test_upload_read_whole(serve: Any, run_mode: str, read: str, size: int) -> None:
    server = start(serve, run_mode)
    data = body_of(size)
    assert post(server, "/" + read, data) == expected(data)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("read", ["read-n", "read-all"])
def test_upload_64_mib(serve: Any, run_mode: str, read: str) -> None:
    server = start(serve, run_mode)
    data = body_of(64 * MiB)
    assert post(server, "/" + read, data) == expected(data)


@pytest.mark.timeout(60)
def test_upload_at_max_body_bytes(serve: Any, run_mode: str) -> None:
    limit = 3 * MiB + 17
    server = start(serve, run_mode, max_body_bytes=limit)
    data = body_of(limit)
    assert post(server, "/read-n", data) == expected(data)
    # One byte over: refused from the head alone, before any body byte is read.
    answer = server.raw(b"POST /read-n HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (limit + 1))
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.timeout(60)
def test_one_long_line(serve: Any, run_mode: str) -> None:
    """readline() of a line far longer than the read buffer."""
    server = start(serve, run_mode)
    data = b"x" * (2 * MiB) + b"\n"
    assert post(server, "/readline", data) == expected(data)


@pytest.mark.timeout(60)
def test_upload_with_curl(serve: Any, run_mode: str, tmp_path: Any) -> None:
    server = start(serve, run_mode)
    data = body_of(1_000_000)
    path = tmp_path / "1m.bin"
    path.write_bytes(data)
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--data-binary", f"@{path}", server.url("/read-n")],
        capture_output=True, check=True, timeout=40,
    )  # fmt: skip
    assert json.loads(result.stdout) == expected(data)


@pytest.mark.timeout(60)
def test_upload_with_requests(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    data = body_of(8 * MiB)
    response = requests.post(server.url("/read-n"), data=data, timeout=30)
    assert response.status_code == 200
    assert response.json() == expected(data)


class Reports(Quiet, http.server.BaseHTTPRequestHandler):
    """Answers what ``rfile.read(n)`` did: the bytes, or the exception it raised."""

    protocol_version = "HTTP/1.1"
    outcome: list[str] = []

    def do_POST(self) -> None:
        try:
            data = self.rfile.read(int(self.headers["Content-Length"]))
            self.outcome.append(f"returned {len(data)}")
        except Exception as exc:
            self.outcome.append(f"raised {type(exc).__name__}: {exc}")
            raise


class AsyncReports(Reports):
    async def do_POST(self) -> None:  # type: ignore[override]
        try:
            data = await self.rfile.aread(int(self.headers["Content-Length"]))
            self.outcome.append(f"returned {len(data)}")
        except Exception as exc:
            self.outcome.append(f"raised {type(exc).__name__}: {exc}")
            raise


@pytest.mark.timeout(30)
def test_body_cut_short_raises(serve: Any, run_mode: str) -> None:
    """A client that leaves mid-body: the handler's read raises, never returns short
    (an inline handler is never called: it runs only once the whole body is in)."""
    Reports.outcome = []
    handler = AsyncReports if run_mode == "async" else Reports
    server = serve(handler, server_class_for(run_mode), config=ServerConfig(timeout_body=2))
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n" + b"a" * 1_000_000)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
    if run_mode == "inline":
        time.sleep(0.5)
        assert Reports.outcome == []
        return
    deadline = time.monotonic() + 10
    while not Reports.outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Reports.outcome == [
        "raised ConnectionResetError: the client closed the connection before the request body ended"
    ]


@pytest.mark.timeout(30)
def test_body_that_stalls_raises(serve: Any, run_mode: str) -> None:
    """A client that stops sending mid-body: after ``timeout_body`` the handler's read
    raises ``TimeoutError`` (an inline handler is never called; the client gets 408)."""
    Reports.outcome = []
    handler = AsyncReports if run_mode == "async" else Reports
    server = serve(handler, server_class_for(run_mode), config=ServerConfig(timeout_body=1))
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n" + b"a" * 1_000_000)
        answer = read_until_closed(sock, 15)
    if run_mode == "inline":
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert Reports.outcome == []
    else:
        assert len(Reports.outcome) == 1 and Reports.outcome[0].startswith("raised TimeoutError"), (
            Reports.outcome
        )
        # As the stdlib's handle_one_request: a timed-out read ends the connection unanswered.
        assert answer == b""


@pytest.mark.timeout(60)
def test_abandoned_upload_is_freed_at_once(serve: Any, run_mode: str) -> None:
    """A client that leaves mid-upload: its buffered body is freed when the connection
    goes, not whenever the cyclic garbage collector next runs."""

    def large_buffers() -> list[Any]:
        return [
            o
            for o in gc.get_objects()
            if (isinstance(o, io.BytesIO) and sys.getsizeof(o) > 4 * MiB)
            or (isinstance(o, BodyReader) and o.buffered > 4 * MiB)
        ]

    server = start(serve, run_mode)
    gc.collect()
    assert large_buffers() == []
    gc.disable()
    try:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(b"POST /read-n HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n")
            sock.sendall(b"u" * (16 * MiB))
        state = server.server._state
        deadline = time.monotonic() + 10
        while state.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a handler thread that was reading has returned
        assert large_buffers() == []
    finally:
        gc.enable()
