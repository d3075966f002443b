"""The same handler classes under http.server and aiohttpbase give the same answers."""

from __future__ import annotations

import http.client
import http.server
import threading
from typing import Any

import pytest

import aiohttpbase
from tests import handlers

CASES = [
    (handlers.Hello, "GET", "/", None),
    (handlers.Hello, "HEAD", "/", None),
    (handlers.Hello, "PATCH", "/", None),  # no do_PATCH: 501
    (handlers.Echo, "POST", "/echo?x=1", b"some posted bytes"),
    (handlers.CustomStatus, "GET", "/", None),
    (handlers.SendError, "GET", "/missing", None),
    (handlers.SendError, "DELETE", "/", None),
    (handlers.RawHead, "GET", "/", None),
    (handlers.Cors, "GET", "/", None),
    (handlers.Cors, "OPTIONS", "/", None),
    (handlers.Http10, "GET", "/", None),
]


def exchange(
    server: Any, method: str, path: str, body: bytes | None
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
        conn.request(method, path, body=body)
        response = conn.getresponse()
        data = response.read()
        conn.close()
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    headers = [(k, v) for k, v in response.getheaders() if k.lower() not in ("date", "server")]
    return response.status, response.reason, headers, data


@pytest.mark.parametrize(
    ("handler", "method", "path", "body"), CASES, ids=lambda c: getattr(c, "__name__", c)
)
def test_same_answer_as_stdlib(parser: str, handler: Any, method: str, path: str, body: bytes | None) -> None:
    expected = exchange(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler), method, path, body)
    config = aiohttpbase.ServerConfig(parser=parser)
    actual = exchange(aiohttpbase.HTTPServer(("127.0.0.1", 0), handler, config=config), method, path, body)
    assert actual == expected
