"""Handlers that take over their connection, on every parser and run mode, against the stdlib.

A stdlib ``do_CONNECT`` proxy (``select`` on ``self.connection`` and an upstream socket)
tunnels to an echo server and carries ``curl``'s proxied requests; a hand-written
WebSocket endpoint answers ``101`` and echoes frames to the ``websockets`` client library.
``http.server.ThreadingHTTPServer`` serving the same classes is the reference for the bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import os
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect as websocket_connect

from aiohttpbase import HTTPServer, ServerConfig

from .conftest import read_until_closed, server_class_for
from .handlers import Hello
from .takeover_handlers import (
    AsyncConnectProxy,
    AsyncWebSocketEcho,
    ConnectProxy,
    EchoServer,
    WebSocketEcho,
    ws_accept,
)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def proxy_for(serve: Any, run_mode: str) -> Any:
    return serve(AsyncConnectProxy if run_mode == "async" else ConnectProxy, server_class_for(run_mode))


def websocket_for(serve: Any, run_mode: str) -> Any:
    return serve(AsyncWebSocketEcho if run_mode == "async" else WebSocketEcho, server_class_for(run_mode))


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        assert chunk, f"connection closed inside the head: {data!r}"
        data += chunk
    return data


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        assert chunk, f"closed after {got} of {n} bytes"
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class StdlibServer:
    """``http.server.ThreadingHTTPServer`` serving a class in a thread: the reference."""

    def __init__(self, handler: Any) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.host, self.port = "127.0.0.1", self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- CONNECT -----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_connect_tunnel_carries_bytes_both_ways(serve: Any, run_mode: str, echo: EchoServer) -> None:
    server = proxy_for(serve, run_mode)
    data = os.urandom(2 * 1024 * 1024)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        # Bytes sent right behind the head are the tunnel's first bytes.
        sock.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nearly!" % echo.port)
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 Connection established\r\n")
        # RFC 9110 section 9.3.6: no framing fields on a 2xx to CONNECT.
        assert b"transfer-encoding" not in head.lower() and b"content-length" not in head.lower()
        assert recv_exactly(sock, 6) == b"early!"
        sender = threading.Thread(target=sock.sendall, args=(data,))
        sender.start()
        echoed = recv_exactly(sock, len(data))
        sender.join(10)
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
        sock.shutdown(socket.SHUT_WR)  # the client is done: the proxy ends the tunnel
        assert read_until_closed(sock, 10) == b""


@pytest.mark.timeout(30)
def test_connect_refused_upstream_is_an_http_answer(serve: Any, run_mode: str) -> None:
    server = proxy_for(serve, run_mode)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        answer = server.raw(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % port)
    assert answer.startswith(b"HTTP/1.1 502 ")


@pytest.mark.timeout(30)
def test_curl_through_the_connect_proxy(serve: Any, run_mode: str) -> None:
    origin = serve(Hello)
    proxy = proxy_for(serve, run_mode)
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "15", "--proxytunnel", "--proxy", proxy.url(""),
         origin.url("/"), origin.url("/again")],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    assert result.stdout == b"<html><body><h1>hi!</h1></body></html>" * 2


@pytest.mark.timeout(30)
def test_connect_response_bytes_match_the_stdlib(serve: Any, run_mode: str, echo: EchoServer) -> None:
    server = proxy_for(serve, run_mode)
    reference = StdlibServer(ConnectProxy)
    try:
        answers = []
        for target in (reference, server):
            with socket.create_connection((target.host, target.port), timeout=10) as sock:
                # (No bytes right behind the head here: the stdlib's buffered rfile would
                # swallow them where select() on the socket cannot see them.)
                sock.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % echo.port)
                head = read_head(sock)
                sock.sendall(b"ping")
                answers.append(normalise(head) + recv_exactly(sock, 4))
        assert answers[1] == answers[0]
    finally:
        reference.close()


def normalise(head: bytes) -> bytes:
    """The head without the fields that differ by moment and server software."""
    return re.sub(rb"(?m)^(Date|Server): [^\r]*\r\n", b"", head)


# -- WebSocket ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_websocket_client_library(serve: Any, run_mode: str) -> None:
    server = websocket_for(serve, run_mode)
    big = os.urandom(300_000)
    with websocket_connect(f"ws://{server.host}:{server.port}/chat", open_timeout=10, close_timeout=10) as ws:
        for text in ("hello", "é" * 1000, ""):
            ws.send(text)
            assert ws.recv(timeout=10) == text
        ws.send(big)
        assert ws.recv(timeout=10) == big
        ws.ping(b"are you there").wait(10)
    # The connection ended when the handler answered the close frame.


def client_frame(opcode: int, payload: bytes, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    n = len(payload)
    length = struct.pack("!B", 0x80 | n) if n < 126 else struct.pack("!BH", 0x80 | 126, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!B", 0x80 | opcode) + length + mask + masked


UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.timeout(30)
def test_websocket_bytes_match_the_stdlib(serve: Any, run_mode: str) -> None:
    """The same upgrade, a frame sent right behind it, and a close: byte for byte."""
    server = websocket_for(serve, run_mode)
    reference = StdlibServer(WebSocketEcho)
    try:
        answers = []
        for target in (reference, server):
            with socket.create_connection((target.host, target.port), timeout=10) as sock:
                sock.sendall(UPGRADE + client_frame(1, b"early frame"))
                head = read_head(sock)
                sock.sendall(client_frame(8, b"\x03\xe8"))
                answers.append(normalise(head) + read_until_closed(sock, 10))
        assert answers[1] == answers[0]
        accept = ws_accept(base64.b64encode(b"the sample nonce").decode()).encode()
        assert b"Sec-WebSocket-Accept: " + accept in answers[0]
    finally:
        reference.close()


def test_plain_requests_still_served_by_the_upgrade_handler(serve: Any, run_mode: str) -> None:
    """A handler that can switch still answers ordinary requests over keep-alive."""
    server = websocket_for(serve, run_mode)
    conn = server.connection()
    for _ in range(2):
        conn.request("GET", "/no-such-file")
        response = conn.getresponse()
        response.read()
        assert response.status == 404
    conn.close()


def test_101_to_a_request_that_did_not_ask_is_not_a_takeover(serve: Any, run_mode: str) -> None:
    """A 101 to a plain request: sent as it is, the connection then closes (no tunnel)."""

    class Stray(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(101)
            self.end_headers()

    class AsyncStray(Stray):
        async def do_GET(self) -> None:  # type: ignore[override]
            Stray.do_GET(self)

    server = serve(AsyncStray if run_mode == "async" else Stray, server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 101 ")


# -- async handlers after a switch: drains, timeouts, shutdown --------------------------

UPGRADE_X = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"


class Switching(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    events: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def switch(self) -> None:
        self.send_response(101)
        self.send_header("Upgrade", "x")
        self.send_header("Connection", "Upgrade")
        self.end_headers()


class TwoWriters(Switching):
    async def do_GET(self) -> None:
        self.switch()

        async def writer(name: str) -> None:
            for _ in range(256):
                self.wfile.write(b"x" * 65536)
                await self.wfile.drain()
            self.events.append(name)

        await asyncio.gather(writer("a"), writer("b"))


@pytest.mark.timeout(30)
def test_two_tasks_draining_one_connection_both_wake(serve: Any) -> None:
    TwoWriters.events = []
    server = serve(TwoWriters)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(UPGRADE_X)
        time.sleep(1)  # both writers wait in drain() while nobody reads
        head = read_head(sock)
        assert recv_exactly(sock, 2 * 256 * 65536) == b"x" * (2 * 256 * 65536)
        deadline = time.monotonic() + 10
        while len(TwoWriters.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert sorted(TwoWriters.events) == ["a", "b"]


class TimesOut(Switching):
    timeout = 0.5

    async def do_GET(self) -> None:
        self.switch()
        try:
            await self.rfile.aread1(10)
            self.events.append("returned")
        except TimeoutError:
            self.events.append("TimeoutError")


@pytest.mark.timeout(30)
def test_async_handler_timeout_bounds_raw_reads(serve: Any) -> None:
    """The handler's ``timeout`` applies to its awaitable reads, as to a socket's."""
    TimesOut.events = []
    server = serve(TimesOut)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(UPGRADE_X)
        read_head(sock)
        assert read_until_closed(sock, 10) == b""  # the handler gave up and returned
    assert TimesOut.events == ["TimeoutError"]


def test_upgrade_on_http10_is_not_a_takeover(serve: Any, run_mode: str) -> None:
    """RFC 9110 section 7.8: Upgrade on an HTTP/1.0 request is ignored."""

    class Echo(Switching):
        def do_GET(self) -> None:
            self.switch()
            self.events.append(repr(self.rfile.read()))

    class AsyncEcho(Echo):
        async def do_GET(self) -> None:  # type: ignore[override]
            self.switch()
            self.events.append(repr(await self.rfile.aread()))

    Switching.events = []
    server = serve(AsyncEcho if run_mode == "async" else Echo, server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nnot for the handler")
        read_until_closed(sock, 10)
    assert Switching.events == ["b''"]  # the body of a GET without one: nothing


class Sleeper(Switching):
    async def do_GET(self) -> None:
        self.switch()
        try:
            await asyncio.sleep(3600)
        finally:
            self.events.append("finally")


@pytest.mark.timeout(30)
def test_shutdown_cancels_async_handlers(parser: str) -> None:
    """A handler task that waits on nothing of its connection is cancelled once the
    graceful shutdown's grace is over, and its ``finally`` runs."""
    Sleeper.events = []
    config = ServerConfig(parser=parser, timeout_graceful_shutdown=0.5)
    server = HTTPServer(("127.0.0.1", 0), Sleeper, config=config)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        sock.sendall(UPGRADE_X)
        read_head(sock)
        server.shutdown()
        thread.join(10)
        server.server_close()
    assert Sleeper.events == ["finally"]
