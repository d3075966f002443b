"""Handler classes served by the reliability benchmarks (soak.py, memory.py, idle.py).

Plain ``http.server.BaseHTTPRequestHandler`` subclasses, served with
``python -m aiohttpbase --handler bench/reliability_app.py:NAME``; access logs off.
"""

from __future__ import annotations

import hashlib
import http.server
import urllib.parse

HELLO = b"<html><body><h1>hi!</h1></body></html>"
PIECE = b"x" * 65536


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def query_int(self, name: str, default: int) -> int:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return int(query.get(name, [default])[0])


class Mixed(Quiet):
    """``GET /`` a small page, ``GET /big?bytes=N`` N bytes in 64 KiB writes, ``POST`` echo."""

    def do_GET(self) -> None:
        if self.path.startswith("/big"):
            size = self.query_int("bytes", 4 * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            while sent < size:
                piece = PIECE[: min(len(PIECE), size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(HELLO)))
        self.end_headers()
        self.wfile.write(HELLO)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AsyncBig(Quiet):
    """``GET /big?bytes=N`` as an ``async def`` handler that awaits ``wfile.drain()``."""

    async def do_GET(self) -> None:
        size = self.query_int("bytes", 4 * 1024 * 1024) if self.path.startswith("/big") else len(HELLO)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if not self.path.startswith("/big"):
            self.wfile.write(HELLO)
            return
        sent = 0
        while sent < size:
            piece = PIECE[: min(len(PIECE), size - sent)]
            self.wfile.write(piece)
            sent += len(piece)
            await self.wfile.drain()  # type: ignore[attr-defined]


class Upload(Quiet):
    """``POST``: reads the (chunked) body in 64 KiB pieces; answers its size and SHA-256."""

    def do_POST(self) -> None:
        digest = hashlib.sha256()
        size = 0
        while True:
            piece = self.rfile.read(65536)
            if not piece:
                break
            digest.update(piece)
            size += len(piece)
        body = f"{size} {digest.hexdigest()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = Mixed.do_GET
