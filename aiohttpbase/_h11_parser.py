"""The h11 request parser backend: the reference for what a well-formed request head is.

Theory of operation: ``HeadCollector`` (``_head``) finds the request head and applies the
limits and the stdlib's request-line rules; this module hands the complete head to a
fresh ``h11.Connection`` per request, and adds the framing checks h11 leaves to servers
(RFC 9112 section 6.1): Content-Length together with Transfer-Encoding, and
Transfer-Encoding on HTTP/1.0, are refused with 400.

A declared body over the limit gets 413.  The body itself is framed by ``HeadCollector``
(a Content-Length body sliced from the buffer, a chunked one decoded by its strict
decoder), so h11 only ever sees heads.  After any error no further byte of the connection
is parsed.

One ``h11.Connection`` per request head keeps h11 out of the response path: responses
are framed by ``_response.ResponseWriter`` so that the status line can carry the handler's
own ``protocol_version`` (h11 always writes HTTP/1.1).
"""

from __future__ import annotations

import h11

from ._events import END_OF_REQUEST, NEED_DATA, BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from ._head import (
    CHUNK_LINE,
    COMPLETE,
    DONE,
    ERROR,
    HEAD,
    LENGTH_BODY,
    SIMPLE,
    HeadCollector,
    check_request_line,
    keep_alive,
)

__all__ = ["H11RequestParser", "check_request_line"]


class H11RequestParser(HeadCollector):
    """Request events from h11, one request at a time (see ``HeadCollector``)."""

    __slots__ = ()

    def feed(self, data: bytes) -> None:
        """Hand received bytes to the parser."""
        if self._state != ERROR:
            self._buffer += data

    def next_event(self) -> RequestHead | BodyData | EndOfRequest | RequestError | _NeedData:
        """The next event, or ``NEED_DATA``."""
        state = self._state
        if state == HEAD:
            return self._next_head_event()
        if state >= CHUNK_LINE:
            return self._next_chunked_event()
        if state == LENGTH_BODY:
            return self._next_length_body_event()
        if state == COMPLETE:
            self._state = DONE
            return END_OF_REQUEST
        if state == SIMPLE:
            self._state = ERROR  # an HTTP/0.9 exchange always ends the connection
            return END_OF_REQUEST
        return NEED_DATA

    def _parse_head(self, request_line: bytes, line_end: int, end: int) -> RequestHead | RequestError:
        buffer = self._buffer
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._config.max_header_bytes + 2)
        head = bytes(buffer[:end])
        # Only the head: what follows stays in our buffer, for the body or the next request.
        conn.receive_data(head)
        del buffer[:end]
        assert self._line is not None
        method, target, version = self._line
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return self._fail(exc.error_status_hint, None, str(exc))
        assert isinstance(event, h11.Request), event
        # One pass over raw_items(): iterating h11's Headers sequence is several times slower.
        headers: list[tuple[str, str]] = []
        connection: list[str] = []  # names in any case: "CONNECTION: close" closes too
        content_length: int | None = None
        chunked = False
        for raw_name, raw_value in event.headers.raw_items():
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers.append((name, value))
            lowered = name.lower()
            if lowered == "content-length":
                content_length = int(value)  # h11 validated it (and any repeats agree)
            elif lowered == "transfer-encoding":
                chunked = True  # h11 let only one field through, saying "chunked"
            elif lowered == "connection":
                connection.append(value)
        if chunked and content_length is not None:
            return self._fail(400, None, "Content-Length together with Transfer-Encoding")
        if chunked and event.http_version == b"1.0":
            return self._fail(400, None, "Transfer-Encoding on an HTTP/1.0 request")
        if content_length is not None and self._body_limit is not None and content_length > self._body_limit:
            return self._fail(413)
        if chunked:
            self._start_chunked_body()
        else:
            self._start_length_body(content_length or 0)  # pipelined bytes wait in our buffer
        return RequestHead(
            method,
            target,
            version,
            request_line,
            headers,
            keep_alive(version, connection),
            event.http_version == b"1.1" and conn.they_are_waiting_for_100_continue,
            None if chunked else content_length or 0,
            connection[0] if connection else "",
        )
