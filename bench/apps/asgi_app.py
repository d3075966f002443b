"""A minimal raw ASGI app (no framework) doing the benchmark's work, for uvicorn.

Run: ``uvicorn --app-dir bench/apps asgi_app:app ...``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from common import (
    API_PREFIX,
    ECHO_PATH,
    ECHO_TYPE,
    JSON_TYPE,
    UPLOAD_PATH,
    UPLOAD_TYPE,
    get_route,
    json_answer,
    upload_answer,
)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _read_body(receive: Receive) -> bytes:
    """Collect the whole request body from ``http.request`` messages."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``GET /``, ``/items/...``, ``/64k``, ``POST /echo``, ``/upload``, ``/api/...`` (``common.py``)."""
    if scope["type"] != "http":  # lifespan: accept startup/shutdown, nothing to do
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        return
    if scope["method"] == "POST":
        body = await _read_body(receive)
        if scope["path"].startswith(API_PREFIX):  # varied-post: the whole JSON body read
            expected = int(dict(scope["headers"]).get(b"content-length", b"-1"))
            status, body = json_answer(expected, len(body))
            content_type = JSON_TYPE
        elif scope["path"] == UPLOAD_PATH:  # the whole body read; answer its size
            expected = int(dict(scope["headers"]).get(b"content-length", b"-1"))
            status, body = upload_answer(expected, len(body))
            content_type = UPLOAD_TYPE
        elif scope["path"] == ECHO_PATH:
            status, content_type = 200, ECHO_TYPE
        else:
            status, content_type, body = 404, "text/plain", b""
    else:
        status, content_type, body = get_route(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
