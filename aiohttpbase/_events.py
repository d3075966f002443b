"""The events a request parser hands to the connection, whatever parser made them.

Theory of operation: a parser backend (h11 today, others later) turns received bytes into
this small vocabulary and nothing else, so the connection, the handler bridge and the
tests never see a parser's own types.  One request is one ``RequestHead``, zero or more
``BodyData`` and one ``EndOfRequest``; a request the server must refuse is one
``RequestError`` carrying the status and message to answer with, after which the parser
reads no further byte of that connection.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "NEED_DATA",
    "BodyData",
    "EndOfRequest",
    "RequestError",
    "RequestHead",
]


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
"""Returned by ``next_event`` when no complete event is buffered yet."""


class RequestHead:
    """A parsed request line and header block."""

    __slots__ = (
        "method",
        "target",
        "version",
        "request_line",
        "headers",
        "keep_alive",
        "expect_continue",
        "content_length",
        "connection",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        request_line: bytes,
        headers: list[tuple[str, str]],
        keep_alive: bool,
        expect_continue: bool,
        content_length: int | None,
        connection: str = "",
    ) -> None:
        self.method = method
        #: The request-target exactly as sent (latin-1 decoded), query string included.
        self.target = target
        #: The version token as sent, e.g. ``"HTTP/1.1"``; ``"HTTP/0.9"`` for a simple request.
        self.version = version
        #: The request line as received, without its line ending.
        self.request_line = request_line
        #: Header fields in received order and case, latin-1 decoded.
        self.headers = headers
        #: Whether the request allows the connection to stay open afterwards.
        self.keep_alive = keep_alive
        #: ``Expect: 100-continue`` on an HTTP/1.1 request.
        self.expect_continue = expect_continue
        #: The body's length: 0 without a body, None when it is chunked.
        self.content_length = content_length
        #: The first Connection field's value ("" without one): what ``parse_request`` reads.
        self.connection = connection

    @property
    def has_body(self) -> bool:
        """Whether a body follows (Content-Length > 0, or chunked)."""
        return self.content_length != 0

    def __repr__(self) -> str:
        return f"RequestHead({self.method!r}, {self.target!r}, {self.version!r})"


class BodyData:
    """A piece of the request body, already de-chunked."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"BodyData({len(self.data)} bytes)"


class EndOfRequest:
    """The request body (possibly empty) is complete."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EndOfRequest()"


END_OF_REQUEST: Final = EndOfRequest()


class RequestError:
    """The request cannot be served; answer ``status`` and close the connection.

    ``message`` goes into the status line (as ``send_error`` does), so it is always a
    fixed, printable phrase; ``explain`` carries details for the error page body.
    A ``status`` of 0 means: close without answering (the stdlib's answer to an empty
    request line or to a connection that dies before the head is complete).
    """

    __slots__ = ("status", "message", "explain", "request_line")

    def __init__(
        self,
        status: int,
        message: str | None = None,
        explain: str | None = None,
        request_line: bytes | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.explain = explain
        #: The request line as received (CRLF stripped), if a whole one came: for the
        #: access line and ``requestline`` of the refusal, as the stdlib logs them.
        self.request_line = request_line

    def __repr__(self) -> str:
        return f"RequestError({self.status}, {self.message!r})"
