"""Read and send deadlines: slowloris in three shapes, idle keep-alive, clients that never read."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from aiohttpbase import ServerConfig, ThreadingHTTPServer
from tests import handlers
from tests.conftest import recv_all

FAST = ServerConfig(timeout_header=0.5, timeout_keep_alive=0.3, timeout_body=0.5, timeout_send=0.5)


def read_until_closed(sock: socket.socket, limit: float = 5) -> tuple[bytes, float]:
    start = time.monotonic()
    sock.settimeout(limit)
    data = recv_all(sock)
    return data, time.monotonic() - start


def _slow_lines() -> list[bytes]:
    return [b"GET / HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % i for i in range(100)]


def _slow_bytes() -> list[bytes]:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
    return [head[i : i + 1] for i in range(len(head))]


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param(list, id="idle-after-connect"),
        pytest.param(_slow_lines, id="one-header-line-at-a-time"),
        pytest.param(_slow_bytes, id="one-byte-at-a-time"),
    ],
)
def test_slowloris_head_deadline_is_not_extended_by_dribbled_bytes(serve: Any, pieces: Any) -> None:
    server = serve(handlers.Hello, config=FAST)
    data = b""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.settimeout(0.05)
        start = time.monotonic()
        closed = False
        for piece in pieces() or [None] * 100:
            if piece is not None:
                try:
                    sock.sendall(piece)
                except OSError:
                    closed = True
                    break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
                break
            data += chunk
            if not chunk:
                closed = True
                break
        elapsed = time.monotonic() - start
    assert closed, "the connection outlived the dribble"
    assert elapsed < 1.5, f"the connection lived {elapsed:.1f} s past a 0.5 s head deadline"
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:100]


def test_partial_head_gets_408(serve: Any) -> None:
    server = serve(handlers.Hello, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        data, elapsed = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in data
    assert 0.3 < elapsed < 2


def test_idle_keep_alive_connection_is_closed(serve: Any) -> None:
    server = serve(handlers.Hello, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, elapsed = read_until_closed(sock)
    assert data.endswith(handlers.BODY)
    assert 0.2 < elapsed < 2


def test_stalled_body_gets_408(serve: Any) -> None:
    server = serve(handlers.Echo, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        data, elapsed = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 2


def test_client_that_never_reads_is_dropped_and_others_are_served(serve: Any) -> None:
    from tests.test_concurrency import BigWriter, timed_get_other

    BigWriter.error = None
    server = serve(BigWriter, ThreadingHTTPServer, config=FAST)
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while BigWriter.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    sock.close()
    assert isinstance(BigWriter.error, OSError)  # the handler learned the client is gone
    assert timed_get_other(server.port) < 1
