"""Handler classes shared by several test modules (and the parity test)."""

from __future__ import annotations

import http.server
from typing import Any

BODY = b"<html><body><h1>hi!</h1></body></html>"


class Quiet:
    def log_message(self, format: str, *args: object) -> None:
        pass


class Hello(Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_HEAD = do_GET


class HelloNoLength(Quiet, http.server.BaseHTTPRequestHandler):
    """A 1.1 handler that never frames its body."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"part one, ")
        self.wfile.write(b"part two")


class Echo(Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length is not None else self.rfile.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Path", self.path)
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST


class CustomStatus(Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(299, "Fine Thanks")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class SendError(Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_error(404, "Nothing <here>", "Really & truly nothing")

    def do_DELETE(self) -> None:
        self.send_error(204)


class RawHead(Quiet, http.server.BaseHTTPRequestHandler):
    """Writes its whole response by hand, the way some scripts do."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")


class Cors(Quiet, http.server.BaseHTTPRequestHandler):
    """The usual CORS pattern: extra headers added in an end_headers override."""

    protocol_version = "HTTP/1.1"

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"cors")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        self.end_headers()


class Http10(Quiet, http.server.BaseHTTPRequestHandler):
    """The stdlib default protocol_version, no Content-Length (like the seed's S)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-type", "text/html")
        self.end_headers()
        self.wfile.write(BODY)


# -- async twins -----------------------------------------------------------------------
# The same answers from ``async def`` methods (the ``async`` run mode): bodies are read
# with ``await self.rfile.aread(n)`` and written output is drained.  Each keeps the
# stdlib's ``__init__``, as an async handler must.


class AsyncHello(Hello):
    async def do_GET(self) -> None:  # type: ignore[override]
        Hello.do_GET(self)
        await self.wfile.drain()

    do_HEAD = do_GET  # type: ignore[assignment]


class AsyncHelloNoLength(HelloNoLength):
    async def do_GET(self) -> None:  # type: ignore[override]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"part one, ")
        await self.wfile.drain()
        self.wfile.write(b"part two")


class AsyncEcho(Echo):
    async def do_POST(self) -> None:  # type: ignore[override]
        length = self.headers.get("Content-Length")
        body = await self.rfile.aread(int(length) if length is not None else -1)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Path", self.path)
        self.end_headers()
        self.wfile.write(body)
        await self.wfile.drain()

    do_PUT = do_POST  # type: ignore[assignment]


class AsyncSendError(SendError):
    async def do_GET(self) -> None:  # type: ignore[override]
        SendError.do_GET(self)

    async def do_DELETE(self) -> None:  # type: ignore[override]
        SendError.do_DELETE(self)


class AsyncHttp10(Http10):
    async def do_GET(self) -> None:  # type: ignore[override]
        Http10.do_GET(self)


ASYNC_TWINS: dict[type, type] = {
    Hello: AsyncHello,
    HelloNoLength: AsyncHelloNoLength,
    Echo: AsyncEcho,
    SendError: AsyncSendError,
    Http10: AsyncHttp10,
}


def for_mode(handler: type, run_mode: str) -> type:
    """``handler``, or its async twin in the ``async`` run mode (conftest.RUN_MODES)."""
    return ASYNC_TWINS[handler] if run_mode == "async" else handler


def serve_in(serve: Any, run_mode: str, handler: type, **kwargs: Any) -> Any:
    """``serve(handler)`` the way ``run_mode`` runs handler code: its async twin on
    ``HTTPServer`` (``async``), on ``ThreadingHTTPServer`` (``thread``) or ``HTTPServer``."""
    from tests.conftest import server_class_for

    return serve(for_mode(handler, run_mode), server_class_for(run_mode), **kwargs)


class Early(Quiet, http.server.BaseHTTPRequestHandler):
    """Answers without reading the request body (a refusal, a redirect)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class AsyncEarly(Early):
    async def do_POST(self) -> None:  # type: ignore[override]
        Early.do_POST(self)
