"""A bare ``asyncio.Protocol`` on uvloop that parses with h11 and answers with h11.

No framework, no tasks: each complete request is answered inline from ``data_received`` in one
``transport.write``. This is the ceiling for an h11-based server.

Usage: ``python bare_h11.py PORT``
"""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import cast

import h11
from common import ECHO_PATH, ECHO_TYPE, get_route, run_protocol

_date_cache: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """The ``Date`` header value, formatted at most once per second."""
    global _date_cache
    loop_second = int(asyncio.get_running_loop().time())
    if _date_cache[0] != loop_second:
        _date_cache = (loop_second, formatdate(usegmt=True).encode("ascii"))
    return _date_cache[1]


class H11Protocol(asyncio.Protocol):
    """One connection: feed bytes to h11, answer each ``EndOfMessage`` with one write."""

    def __init__(self) -> None:
        self.conn = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.request: h11.Request | None = None
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.conn.receive_data(b"")
        self._process()
        return None

    def _process(self) -> None:
        assert self.transport is not None
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self.transport.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request = event
                self.body = []
            elif isinstance(event, h11.Data):
                self.body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._respond()
                if self.conn.our_state is h11.MUST_CLOSE:
                    self.transport.close()
                    return
                self.conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return

    def _respond(self) -> None:
        assert self.transport is not None and self.request is not None
        path = self.request.target.decode("latin-1")
        if self.request.method == b"POST":
            ok = path == ECHO_PATH
            status, content_type = (200, ECHO_TYPE) if ok else (404, "text/plain")
            body = b"".join(self.body) if ok else b""
        else:
            status, content_type, body = get_route(path)
        headers = [
            (b"Content-Type", content_type.encode("latin-1")),
            (b"Content-Length", str(len(body)).encode("ascii")),
            (b"Date", http_date()),
            (b"Server", b"bare-h11"),
        ]
        reason = b"OK" if status == 200 else b"Not Found"
        out = self.conn.send(h11.Response(status_code=status, headers=headers, reason=reason)) or b""
        out += self.conn.send(h11.Data(data=body)) or b""
        out += self.conn.send(h11.EndOfMessage()) or b""
        self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


if __name__ == "__main__":
    run_protocol(H11Protocol)
