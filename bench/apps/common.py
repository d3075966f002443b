"""The work every server under test does, defined once so all of them answer the same bytes.

Routes (the same in every app):

* ``GET /``      -> 200, ``text/html`` 38-byte body (:data:`HELLO_BODY`)
* ``GET /64k``   -> 200, ``application/octet-stream`` 65,536-byte body (:data:`BIG_BODY`)
* ``POST /echo`` -> 200, ``application/octet-stream``, the request body echoed back
* ``POST /upload`` -> the whole body read, then 200, ``text/plain``, its byte count in decimal
  (500 with the counts if fewer bytes than ``Content-Length`` came: a cut-short upload shows
  up as wrk's ``Non-2xx`` count)
* anything else  -> 404, empty body
"""

from __future__ import annotations

HELLO_BODY: bytes = b"<html><body>Hello world</body></html>\n"
HELLO_TYPE: str = "text/html; charset=utf-8"

BIG_PATH: str = "/64k"
BIG_BODY: bytes = b"x" * 65536
BIG_TYPE: str = "application/octet-stream"

ECHO_PATH: str = "/echo"
ECHO_TYPE: str = "application/octet-stream"

UPLOAD_PATH: str = "/upload"
UPLOAD_TYPE: str = "text/plain"

assert len(HELLO_BODY) == 38, len(HELLO_BODY)


def upload_answer(expected: int, received: int) -> tuple[int, bytes]:
    """``(status, body)`` answering an upload of ``received`` bytes announced as ``expected``."""
    if received == expected:
        return 200, str(received).encode("ascii")
    return 500, f"short read: {received} of {expected} bytes".encode("ascii")


def get_route(path: str) -> tuple[int, str, bytes]:
    """Return ``(status, content_type, body)`` for a GET of ``path``."""
    if path == "/":
        return 200, HELLO_TYPE, HELLO_BODY
    if path == BIG_PATH:
        return 200, BIG_TYPE, BIG_BODY
    return 404, "text/plain", b""
