"""Handler classes that take over their connection, written the way people write them
for ``http.server``: a ``do_CONNECT`` forward proxy relaying with ``select``, and a
WebSocket endpoint speaking frames on ``rfile``/``wfile`` after ``101 Switching Protocols``.
``async def`` twins do the same with the awaitable streams.  An echo server is the tunnel's
far end.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import select
import socket
import socketserver
import struct
import threading
from typing import Any

from .handlers import Quiet

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ConnectProxy(Quiet, http.server.BaseHTTPRequestHandler):
    """The classic forward proxy: ``200 Connection established``, then ``select`` both ways."""

    protocol_version = "HTTP/1.1"

    def do_CONNECT(self) -> None:
        host, port = self.path.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, broken = select.select(sockets, [], sockets, 10)
                if broken or not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()


class AsyncConnectProxy(ConnectProxy):
    async def do_CONNECT(self) -> None:  # type: ignore[override]
        host, port = self.path.rsplit(":", 1)
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True

        async def client_to_upstream() -> None:
            while data := await self.rfile.aread1(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()

        task = asyncio.ensure_future(client_to_upstream())
        try:
            while data := await reader.read(65536):
                self.wfile.write(data)
                await self.wfile.drain()
        finally:
            task.cancel()
            writer.close()


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (unmasked, final)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def ws_unmask(mask: bytes, payload: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WebSocketEcho(Quiet, http.server.SimpleHTTPRequestHandler):
    """A hand-written WebSocket echo endpoint on ``SimpleHTTPRequestHandler``: upgrade
    requests are answered 101 and echoed frame by frame; anything else is a file."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() != "websocket":
            super().do_GET()
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(self.headers["Sec-WebSocket-Key"]))
        self.end_headers()
        self.close_connection = True
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self.rfile.read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self.rfile.read(8))
            mask = self.rfile.read(4)
            payload = ws_unmask(mask, self.rfile.read(length))
            if opcode == 8:  # close: answer it and stop
                self.wfile.write(ws_frame(8, payload[:2]))
                self.wfile.flush()
                return
            if opcode == 9:  # ping
                self.wfile.write(ws_frame(10, payload))
            elif opcode in (1, 2):
                self.wfile.write(ws_frame(opcode, payload))
            self.wfile.flush()


class AsyncWebSocketEcho(Quiet, http.server.BaseHTTPRequestHandler):
    """The same with ``async def``, on ``BaseHTTPRequestHandler`` (``async`` methods need
    a class that keeps the stdlib's ``__init__``; ``SimpleHTTPRequestHandler`` has its own)."""

    protocol_version = "HTTP/1.1"

    async def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() != "websocket":
            self.send_error(404)
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(self.headers["Sec-WebSocket-Key"]))
        self.end_headers()
        self.close_connection = True
        rfile = self.rfile
        while True:
            head = await rfile.aread(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await rfile.aread(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await rfile.aread(8))
            mask = await rfile.aread(4)
            payload = ws_unmask(mask, await rfile.aread(length))
            if opcode == 8:
                self.wfile.write(ws_frame(8, payload[:2]))
                await self.wfile.drain()
                return
            if opcode == 9:
                self.wfile.write(ws_frame(10, payload))
            elif opcode in (1, 2):
                self.wfile.write(ws_frame(opcode, payload))
            await self.wfile.drain()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class EchoServer:
    """A TCP echo server on 127.0.0.1 for tunnels to reach."""

    def __init__(self) -> None:
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def takeover_pair(run_mode: str, handler: Any, async_handler: Any) -> Any:
    return async_handler if run_mode == "async" else handler
