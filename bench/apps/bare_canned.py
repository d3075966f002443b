"""A bare uvloop ``asyncio.Protocol`` that answers canned responses: the event loop's ceiling.

It does the least parsing that still serves the benchmark's workloads: split requests on the
blank line, read the request line, skip ``Content-Length`` bytes of body (echoed for
``POST /echo``), close after a request carrying ``Connection: close``. Not a real HTTP server.

Usage: ``python bare_canned.py PORT``
"""

from __future__ import annotations

import asyncio
from typing import cast

from common import BIG_BODY, BIG_TYPE, ECHO_TYPE, HELLO_BODY, HELLO_TYPE, run_protocol


def _response(content_type: str, body: bytes, close: bool = False) -> bytes:
    """A complete HTTP/1.1 200 response as bytes."""
    connection = b"Connection: close\r\n" if close else b""
    head = (
        b"HTTP/1.1 200 OK\r\nServer: bare-canned\r\nContent-Type: "
        + content_type.encode("latin-1")
        + b"\r\nContent-Length: "
        + str(len(body)).encode("ascii")
        + b"\r\n"
        + connection
        + b"\r\n"
    )
    return head + body


CANNED: dict[tuple[bytes, bool], bytes] = {
    (b"/", False): _response(HELLO_TYPE, HELLO_BODY),
    (b"/", True): _response(HELLO_TYPE, HELLO_BODY, close=True),
    (b"/64k", False): _response(BIG_TYPE, BIG_BODY),
    (b"/64k", True): _response(BIG_TYPE, BIG_BODY, close=True),
}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class CannedProtocol(asyncio.Protocol):
    """Buffers bytes, answers every complete request found in the buffer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        close = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : line_end if line_end >= 0 else None])
            if len(buffer) < end + 4 + length:
                break  # body not complete yet
            body = buffer[end + 4 : end + 4 + length]
            buffer = buffer[end + 4 + length :]
            close = b"\r\nconnection: close" in head
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0]
            if method == b"post":
                out.append(_response(ECHO_TYPE, body, close))
            else:
                out.append(CANNED.get((path, close), NOT_FOUND))
            if close:
                break
        self.buffer = buffer
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


if __name__ == "__main__":
    run_protocol(CannedProtocol)
