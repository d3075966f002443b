"""The ceiling for serving a stdlib handler class on uvloop: llhttp, the handler, nothing else.

A bare uvloop ``asyncio.Protocol`` that parses with httptools (llhttp) and runs the unchanged
``HelloHandler`` (``handlers.py``) the cheapest way a stdlib handler can be run: the object
made with ``__new__``, the attributes ``parse_request`` would set filled from llhttp's
callbacks, ``self.headers`` an ``HTTPMessage`` filled directly, ``do_<COMMAND>`` called, and
what it wrote sent in one ``transport.write``.  It checks nothing (no limits, no Host, no
request-line rules, no framing of what the handler writes, no timeouts, no error pages), so
it is not a server: it measures what any server that runs this handler unchanged cannot go
below, beside the event loop's own ceiling (``bare_canned.py``).

Usage: ``python bare_handler.py PORT``
"""

from __future__ import annotations

import asyncio
import io
from typing import Any, cast

from common import run_protocol
from handlers import HelloHandler
from httptools import HttpRequestParser


class _Output:
    """The handler's ``wfile``: collects its writes for one ``transport.write``."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)

    def flush(self) -> None:
        pass


class HandlerProtocol(asyncio.Protocol):
    """llhttp's callbacks build the request; each complete message runs the handler."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.peer = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        method = parser.get_method().decode("ascii")
        version = "HTTP/" + parser.get_http_version()
        path = self.url.decode("latin-1")
        handler: Any = HelloHandler.__new__(HelloHandler)
        handler.client_address = self.peer
        handler.server = None
        handler.command = method
        handler.path = path
        handler.request_version = version
        handler.requestline = f"{method} {path} {version}"
        handler.close_connection = not parser.should_keep_alive()
        headers = handler.MessageClass()
        headers._headers = self.headers
        handler.headers = headers
        handler.rfile = io.BytesIO(b"".join(self.body))
        handler.wfile = output = _Output()
        getattr(handler, "do_" + method)()
        self.url = b""
        self.headers = []
        self.body = []
        assert self.transport is not None
        self.transport.write(b"".join(output.parts))
        if handler.close_connection:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


if __name__ == "__main__":
    run_protocol(HandlerProtocol)
