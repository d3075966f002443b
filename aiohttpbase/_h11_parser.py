"""The h11 request parser backend.

Theory of operation: h11 is the reference for what a well-formed HTTP/1.1 request is, but
it leaves some checks to the server and is stricter than the stdlib in places where
existing clients rely on the stdlib's answers.  So this module does three things around it:

1. It collects the request head itself, enforcing the request-line limit (414), the
   whole-head byte limit and field count (431) whether or not the head arrived in one
   read -- h11 only measures a head while it is incomplete (python-hyper/h11#182).
2. It applies ``BaseHTTPRequestHandler.parse_request``'s request-line rules first, so a
   bad version answers 400 "Bad request version", HTTP/2+ answers 505, and an HTTP/0.9
   simple request is served, exactly as the stdlib does.
3. It hands the complete head, then the body bytes, to a fresh ``h11.Connection`` per
   request, and adds the framing checks h11 leaves to servers (RFC 9112 section 6.1):
   Content-Length together with Transfer-Encoding, and Transfer-Encoding on HTTP/1.0,
   are refused with 400.  After any error no further byte of the connection is parsed.

One ``h11.Connection`` per request keeps h11 out of the response path: responses are
framed by ``_response.ResponseWriter`` so that the status line can carry the handler's
own ``protocol_version`` (h11 always writes HTTP/1.1).  Bytes after a request (pipelined
requests) are carried to the next cycle through h11's public ``trailing_data``.
"""

from __future__ import annotations

import re
from typing import Final

import h11

from ._events import (
    END_OF_REQUEST,
    NEED_DATA,
    BodyData,
    EndOfRequest,
    RequestError,
    RequestHead,
    _NeedData,
)
from .config import ServerConfig

__all__ = ["H11RequestParser", "check_request_line"]

# A blank line ends the head; h11 accepts bare LF line endings, and so do we.
_END_OF_HEAD: Final = re.compile(rb"\n\r?\n")

_HEAD, _BODY, _DONE, _SIMPLE, _ERROR = range(5)


def check_request_line(line: str) -> RequestError | tuple[str, str, str]:
    """Apply the stdlib's ``parse_request`` rules to a request line (CRLF stripped).

    Returns ``(command, target, version)`` or the error the stdlib would answer.  The
    messages are the stdlib's; they contain ``repr`` of client input, which escapes every
    control character, so they are safe in a status line.
    """
    words = line.split()
    if not words:
        return RequestError(400, "Bad request syntax (%r)" % line)
    if len(words) >= 3:
        version = words[-1]
        try:
            if not version.startswith("HTTP/"):
                raise ValueError
            parts = version.split("/", 1)[1].split(".")
            if len(parts) != 2 or not all(p.isdigit() and len(p) <= 10 for p in parts):
                raise ValueError
            number = int(parts[0]), int(parts[1])
        except ValueError:
            return RequestError(400, "Bad request version (%r)" % version)
        if number >= (2, 0):
            return RequestError(505, "Invalid HTTP version (%s)" % version.split("/", 1)[1])
    if not 2 <= len(words) <= 3:
        return RequestError(400, "Bad request syntax (%r)" % line)
    if len(words) == 2:
        if words[0] != "GET":
            return RequestError(400, "Bad HTTP/0.9 request type (%r)" % words[0])
        return words[0], words[1], "HTTP/0.9"
    return words[0], words[1], words[2]


def _connection_tokens(headers: list[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(","))
    return tokens


class H11RequestParser:
    """Bytes in (``feed``), request events out (``next_event``), one request at a time.

    After ``EndOfRequest`` the parser holds any further bytes until the response has been
    sent and ``start_next_request()`` is called: pipelined requests are answered in order.
    """

    __slots__ = (
        "_config",
        "_buffer",
        "_state",
        "_conn",
        "_line",
        "_scanned",
        "_eof",
        "_body_limit",
        "_body_seen",
    )

    def __init__(self, config: ServerConfig, body_limit: int | None = None) -> None:
        self._config = config
        self._buffer = bytearray()
        self._state = _HEAD
        self._conn: h11.Connection | None = None
        self._line: tuple[str, str, str] | None = None
        self._scanned = 0
        self._eof = False
        #: Bodies larger than this are refused with 413 (None: no limit).
        self._body_limit = body_limit
        self._body_seen = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet turned into events (bounds read buffering)."""
        return len(self._buffer)

    @property
    def idle(self) -> bool:
        """True between requests, before any byte of the next one has arrived."""
        return self._state == _HEAD and not self._buffer

    def feed(self, data: bytes) -> None:
        """Hand received bytes to the parser."""
        if self._state == _BODY:
            assert self._conn is not None
            self._conn.receive_data(data)
        elif self._state != _ERROR:
            self._buffer += data

    def feed_eof(self) -> None:
        """The peer will send no more bytes."""
        self._eof = True
        if self._state == _BODY:
            assert self._conn is not None
            self._conn.receive_data(b"")

    def start_next_request(self) -> None:
        """The response to the current request is complete: parse the next one."""
        if self._state == _DONE:
            self._state = _HEAD
            self._line = None
            self._scanned = 0
            self._body_seen = 0

    def next_event(self) -> RequestHead | BodyData | EndOfRequest | RequestError | _NeedData:
        """The next event, or ``NEED_DATA``."""
        state = self._state
        if state == _BODY:
            return self._next_body_event()
        if state == _HEAD:
            return self._next_head_event()
        if state == _SIMPLE:
            self._state = _ERROR  # an HTTP/0.9 exchange always ends the connection
            return END_OF_REQUEST
        return NEED_DATA

    def _fail(self, status: int, message: str | None = None, explain: str | None = None) -> RequestError:
        self._state = _ERROR
        self._buffer.clear()
        self._conn = None
        return RequestError(status, message, explain)

    def _next_head_event(self) -> RequestHead | RequestError | _NeedData:
        buffer = self._buffer
        config = self._config
        if self._line is None:
            # RFC 9112 section 2.2: ignore empty lines received before the request line.
            while buffer.startswith(b"\n") or buffer.startswith(b"\r\n"):
                del buffer[: 1 if buffer[0] == 10 else 2]
            newline = buffer.find(b"\n", 0, config.max_request_line + 2)
            if newline < 0:
                if len(buffer) > config.max_request_line:
                    return self._fail(414)
                return self._fail(0) if self._eof and buffer else NEED_DATA
            checked = check_request_line(buffer[:newline].decode("latin-1").rstrip("\r"))
            if isinstance(checked, RequestError):
                return self._fail(checked.status, checked.message)
            self._line = checked
            if checked[2] == "HTTP/0.9":
                return self._simple_request(bytes(buffer[:newline]).rstrip(b"\r"))
        match = _END_OF_HEAD.search(buffer, max(0, self._scanned - 2))
        if match is None:
            if len(buffer) > config.max_header_bytes:
                return self._fail(431, "Request header fields too large")
            if self._eof:
                return self._fail(0)
            self._scanned = len(buffer)
            return NEED_DATA
        end = match.end()
        if end > config.max_header_bytes:
            return self._fail(431, "Request header fields too large")
        head = buffer[:end]
        if head.count(b"\n") - 2 > config.max_header_fields:
            return self._fail(431, "Too many headers")
        if re.search(rb"\n[ \t]", head):
            return self._fail(400, None, "Obsolete line folding is not accepted")
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=config.max_header_bytes + 2)
        conn.receive_data(bytes(buffer))
        buffer.clear()
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return self._fail(exc.error_status_hint, None, str(exc))
        assert isinstance(event, h11.Request), event
        self._conn = conn
        return self._make_head(event, head)

    def _make_head(self, event: h11.Request, head: bytearray) -> RequestHead | RequestError:
        assert self._line is not None
        method, target, version = self._line
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
        content_length: int | None = None
        chunked = False
        for name, value in event.headers:  # h11 lower-cases names here
            if name == b"content-length":
                content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
        if chunked and content_length is not None:
            return self._fail(400, None, "Content-Length together with Transfer-Encoding")
        if chunked and event.http_version == b"1.0":
            return self._fail(400, None, "Transfer-Encoding on an HTTP/1.0 request")
        if content_length is not None and self._body_limit is not None and content_length > self._body_limit:
            return self._fail(413)
        tokens = _connection_tokens(headers) if b"onnection" in head else set()
        if event.http_version == b"1.1":
            keep_alive = "close" not in tokens
        else:
            keep_alive = "keep-alive" in tokens and "close" not in tokens
        self._state = _BODY
        line_end = head.find(b"\n")
        return RequestHead(
            method,
            target,
            version,
            bytes(head[:line_end]).rstrip(b"\r"),
            headers,
            keep_alive,
            event.http_version == b"1.1" and self._conn.they_are_waiting_for_100_continue,  # type: ignore[union-attr]
            chunked or bool(content_length),
        )

    def _simple_request(self, line: bytes) -> RequestHead:
        method, target, version = self._line  # type: ignore[misc]
        self._state = _SIMPLE
        self._buffer.clear()
        return RequestHead(method, target, version, line, [], False, False, False)

    def _next_body_event(self) -> BodyData | EndOfRequest | RequestError | _NeedData:
        conn = self._conn
        assert conn is not None
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if self._eof:
                return self._fail(0)  # the client left mid-body: nobody to answer
            return self._fail(exc.error_status_hint, None, str(exc))
        if type(event) is h11.Data:
            data = event.data
            self._body_seen += len(data)
            if self._body_limit is not None and self._body_seen > self._body_limit:
                return self._fail(413)
            return BodyData(data)
        if type(event) is h11.EndOfMessage:
            self._buffer = bytearray(conn.trailing_data[0])
            self._conn = None
            self._state = _DONE
            return END_OF_REQUEST
        return NEED_DATA

