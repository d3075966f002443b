"""The benchmark handler: a plain ``http.server.BaseHTTPRequestHandler`` subclass.

The same class is served unchanged by the stdlib servers (``apps/stdlib_server.py``) and by
aiohttpbase (``python -m aiohttpbase --handler bench/apps/handlers.py:HelloHandler PORT``).
It uses only the documented stdlib API: ``send_response``/``send_header``/``end_headers`` and
``wfile.write``, and ``rfile.read`` for request bodies.

:class:`AsyncHelloHandler` is the same work written as ``async def`` methods (aiohttpbase's third
run mode: handlers as tasks on the loop, ``await self.rfile.aread(n)``); the stdlib cannot serve it.

This file is loaded by path by aiohttpbase, so it imports nothing from the bench package:
the response bodies below must stay byte-identical to ``apps/common.py``.
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler
from typing import Any, TextIO

HELLO_BODY = b"<html><body>Hello world</body></html>\n"  # 38 bytes, as in apps/common.py
BIG_BODY = b"x" * 65536
ITEMS_PREFIX = "/items/"  # GET: the hello answer, any path and query below it (apps/common.py)
API_PREFIX = "/api/"  # POST: the body read whole, {"received":N} answered (apps/common.py)


class HelloHandler(BaseHTTPRequestHandler):
    """Answers ``GET /``, ``GET /64k``, ``POST /echo`` and ``POST /upload``; access log silenced."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/":
            self._reply(200, "text/html; charset=utf-8", HELLO_BODY)
        elif self.path.startswith(ITEMS_PREFIX):  # the varied cells: /items/N?...
            # keepalive-mix: say "Connection: close" when the client asked for it (RFC 9112
            # says a server should; the stdlib does not by itself, and wrk would count a read
            # error for each such request); aiohttpbase, uvicorn and aiohttp say it anyway.
            self._reply(200, "text/html; charset=utf-8", HELLO_BODY, self.close_connection)
        elif self.path == "/64k":
            self._reply(200, "application/octet-stream", BIG_BODY)
        else:
            self._reply(404, "text/plain", b"")

    def do_POST(self) -> None:
        if self.path.startswith(API_PREFIX):  # varied-post: a JSON body read whole, its size answered
            length = int(self.headers["Content-Length"])
            self._json_reply(length, len(self.rfile.read(length)))
            return
        if self.path == "/upload":  # the upload cells: read the whole body, answer its size
            length = int(self.headers["Content-Length"])
            self._upload_reply(length, len(self.rfile.read(length)))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/echo":
            self._reply(200, "application/octet-stream", body)
        else:
            self._reply(404, "text/plain", b"")

    def _upload_reply(self, expected: int, received: int) -> None:
        """200 with the byte count; 500 naming both counts when the body came short."""
        if received == expected:
            self._reply(200, "text/plain", str(received).encode("ascii"))
        else:
            self._reply(500, "text/plain", f"short read: {received} of {expected} bytes".encode("ascii"))

    def _json_reply(self, expected: int, received: int) -> None:
        """200 ``{"received":N}``; 500 naming both counts when the body came short."""
        if received == expected:
            self._reply(200, "application/json", b'{"received":%d}' % received)
        else:
            answer = b'{"error":"short read","received":%d,"expected":%d}' % (received, expected)
            self._reply(500, "application/json", answer)

    def _reply(self, status: int, content_type: str, body: bytes, close: bool = False) -> None:
        """Send one complete response the way a typical stdlib handler does."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log off: every server in the comparison runs without per-request logging."""


class AsyncHelloHandler(HelloHandler):
    """:class:`HelloHandler` with ``async def`` methods: run as tasks on aiohttpbase's loop.

    The body of a POST is read with ``await self.rfile.aread(n)`` (the body streams to an async
    handler as it arrives, as it does on a worker thread); everything else is the same work.
    """

    async def do_GET(self) -> None:  # type: ignore[override]
        HelloHandler.do_GET(self)

    async def do_POST(self) -> None:  # type: ignore[override]
        if self.path.startswith(API_PREFIX):
            length = int(self.headers["Content-Length"])
            self._json_reply(length, len(await self.rfile.aread(length)))  # type: ignore[attr-defined]
            return
        if self.path == "/upload":
            length = int(self.headers["Content-Length"])
            self._upload_reply(length, len(await self.rfile.aread(length)))  # type: ignore[attr-defined]
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = await self.rfile.aread(length) if length else b""  # type: ignore[attr-defined]
        if self.path == "/echo":
            self._reply(200, "application/octet-stream", body)
        else:
            self._reply(404, "text/plain", b"")


class LoggingHelloHandler(HelloHandler):
    """:class:`HelloHandler` with the stdlib access log kept on, written to a file.

    The line format is the stdlib's own (``BaseHTTPRequestHandler.log_message``); only the
    destination changes from stderr to ``$BENCH_ACCESS_LOG`` (default ``/tmp/bench-access.log``),
    opened line-buffered so each request costs one write, as stderr does.
    """

    _log_file: TextIO | None = None

    def log_message(self, format: str, *args: Any) -> None:
        log = LoggingHelloHandler._log_file
        if log is None:
            path = os.environ.get("BENCH_ACCESS_LOG", "/tmp/bench-access.log")
            log = LoggingHelloHandler._log_file = open(path, "a", buffering=1, encoding="utf-8")
        message = format % args
        log.write(f"{self.address_string()} - - [{self.log_date_time_string()}] {message}\n")
