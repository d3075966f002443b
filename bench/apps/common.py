"""The work every server under test does, defined once so all of them answer the same bytes.

Routes (the same in every app):

* ``GET /``      -> 200, ``text/html`` 38-byte body (:data:`HELLO_BODY`)
* ``GET /64k``   -> 200, ``application/octet-stream`` 65,536-byte body (:data:`BIG_BODY`)
* ``POST /echo`` -> 200, ``application/octet-stream``, the request body echoed back
* ``POST /upload`` -> the whole body read, then 200, ``text/plain``, its byte count in decimal
  (500 with the counts if fewer bytes than ``Content-Length`` came: a cut-short upload shows
  up as wrk's ``Non-2xx`` count)
* ``GET /items/...`` (any path under it, any query) -> the ``GET /`` answer: the varied-heads
  workloads (every request a different path and query, ``lua/varied.lua``)
* ``POST /api/...`` -> the whole body read (a JSON document; not parsed), then 200,
  ``application/json``, ``{"received":N}`` with its byte count (500 with both counts if it came
  short): the ``varied-post`` workload (``lua/varied_post.lua``)
* anything else  -> 404, empty body
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

HELLO_BODY: bytes = b"<html><body>Hello world</body></html>\n"
HELLO_TYPE: str = "text/html; charset=utf-8"

BIG_PATH: str = "/64k"
BIG_BODY: bytes = b"x" * 65536
BIG_TYPE: str = "application/octet-stream"

ECHO_PATH: str = "/echo"
ECHO_TYPE: str = "application/octet-stream"

UPLOAD_PATH: str = "/upload"
UPLOAD_TYPE: str = "text/plain"

#: GETs under this prefix (``/items/123?page=4&sort=name``) get the ``GET /`` answer.
ITEMS_PREFIX: str = "/items/"
#: POSTs under this prefix get their body read whole and its size answered as JSON.
API_PREFIX: str = "/api/"
JSON_TYPE: str = "application/json"

assert len(HELLO_BODY) == 38, len(HELLO_BODY)


def json_answer(expected: int, received: int) -> tuple[int, bytes]:
    """``(status, body)`` answering a JSON POST of ``received`` bytes announced as ``expected``."""
    if received == expected:
        return 200, b'{"received":%d}' % received
    return 500, b'{"error":"short read","received":%d,"expected":%d}' % (received, expected)


def upload_answer(expected: int, received: int) -> tuple[int, bytes]:
    """``(status, body)`` answering an upload of ``received`` bytes announced as ``expected``."""
    if received == expected:
        return 200, str(received).encode("ascii")
    return 500, f"short read: {received} of {expected} bytes".encode("ascii")


def get_route(path: str) -> tuple[int, str, bytes]:
    """Return ``(status, content_type, body)`` for a GET of ``path``."""
    if path == "/" or path.startswith(ITEMS_PREFIX):
        return 200, HELLO_TYPE, HELLO_BODY
    if path == BIG_PATH:
        return 200, BIG_TYPE, BIG_BODY
    return 404, "text/plain", b""


def run_protocol(protocol_factory: Callable[[], asyncio.Protocol]) -> None:
    """Serve ``protocol_factory``'s protocol on uvloop at 127.0.0.1, port ``sys.argv[1]``,
    until killed: the ``main`` of the bare protocols (``bare_*.py``)."""
    import uvloop  # (here: the apps that only import the routes above need no uvloop)

    async def serve(port: int) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(protocol_factory, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(serve(int(sys.argv[1])))
