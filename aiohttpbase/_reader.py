"""From received bytes to request events: framing, limits and the request line.

Theory of operation: whatever parses the header fields (a ``HeadParser`` backend: h11,
llhttp), the server decides itself where a request head ends and whether it is
acceptable at all, so that every backend enforces the same limits and gives the same
answers.  ``RequestReader`` holds a connection's receive buffer and:

1. skips empty lines before the request line (RFC 9112 section 2.2);
2. limits the request line (414) and checks it by the stdlib's rules
   (``_head.check_request_line``); the asterisk-form target (``*``) is for ``OPTIONS``
   only (400); an HTTP/0.9 simple request is served, and ends the connection;
3. limits the head (up to the first blank line; bare LF line endings count) in bytes
   (431) whether or not it arrived in one read -- h11 only measures a head while it is
   incomplete (python-hyper/h11#182) and llhttp not at all;
4. hands the complete head to its ``HeadParser`` (which counts the field lines against
   ``max_header_fields``, 431, then judges them, obsolete line folding among them: 400),
   applies the body limit (413), and
   frames the body: a ``Content-Length`` body is sliced from the buffer, a chunked one
   decoded by ``ChunkedDecoder``.

One request at a time: after ``EndOfRequest`` further bytes wait in the buffer until the
response has been sent and ``start_next_request()`` is called, so pipelined requests are
answered in order.  After any refusal no further byte of the connection is parsed.
"""

from __future__ import annotations

import re
from typing import Final

from ._chunked import ChunkedDecoder, take_bytes
from ._events import END_OF_REQUEST, NEED_DATA, BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from ._head import HeadParser, RequestLine, check_request_line, plain_request_line
from .config import ServerConfig

__all__ = ["RequestReader"]

# Where the reader stands.  COMPLETE: a request without a body was parsed, its
# EndOfRequest is the next event; LENGTH_BODY: a Content-Length body is arriving;
# CHUNKED: a chunked one; DONE: the request is complete, the next waits its turn;
# SIMPLE: an HTTP/0.9 request, after which the connection ends; ERROR: nothing more.
HEAD, LENGTH_BODY, CHUNKED, COMPLETE, DONE, SIMPLE, ERROR = range(7)

RequestEvent = RequestHead | BodyData | EndOfRequest | RequestError | _NeedData


# The blank line that ends a head: h11 accepts bare LF line endings, and so do we.  One
# regex search over a 600-byte head costs 0.46 us; the two finds it replaced (one per line
# ending) cost 1.07 us, because each stops at every LF of the head.
_BLANK_LINE: Final = re.compile(rb"\n\r?\n")
# A request line as nearly every client sends it: a method of letters, a target of visible
# ASCII, HTTP/1.1 or 1.0, one SP between, CRLF (or LF) after.  Such a line passes the
# stdlib's rules (``check_request_line``) and is plainly within h11's grammar
# (``plain_request_line``), so one match stands for both; any other line takes those two.
# (The asterisk form is left to those checks: it is for OPTIONS only.)
_PLAIN_LINE: Final = re.compile(rb"([A-Za-z]+ (?!\* )[!-~]+ HTTP/1\.[01])\r?\n")


class RequestReader:
    """Bytes in (``feed``), request events out (``next_event``), one request at a time."""

    __slots__ = (
        "_config",
        "_heads",
        "_body_limit",
        "buffer",
        "_state",
        "_line",
        "_plain",
        "_scanned",
        "_eof",
        "_remaining",
        "_chunked",
    )

    def __init__(self, config: ServerConfig, heads: HeadParser, body_limit: int | None = None) -> None:
        self._config = config
        self._heads = heads
        #: Bodies larger than this are refused with 413 (None: no limit).
        self._body_limit = body_limit
        #: Bytes received and not yet turned into events: the reader's own, to be read
        #: (its length bounds read buffering), never changed from outside.
        self.buffer = bytearray()
        self._state = HEAD
        #: The checked request line while the rest of its head is still arriving.
        self._line: RequestLine | None = None
        #: Whether that line is plainly within h11's grammar (``plain_request_line``).
        self._plain = False
        #: How far the buffer has been searched for the end of the head.
        self._scanned = 0
        self._eof = False
        #: Body bytes still to come in state ``LENGTH_BODY``.
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet turned into events (bounds read buffering)."""
        return len(self.buffer)

    @property
    def idle(self) -> bool:
        """True between requests, before any byte of the next one has arrived."""
        return self._state == HEAD and not self.buffer

    def feed(self, data: bytes) -> None:
        """Bytes received from the client."""
        if self._state != ERROR:
            self.buffer += data

    def feed_eof(self) -> None:
        """The client will send no more bytes."""
        self._eof = True

    def start_next_request(self) -> None:
        """The response to the current request is complete: read the next one."""
        if self._state == DONE:
            self._state = HEAD
            self._line = None
            self._scanned = 0

    def take_buffered(self) -> bytes:
        """What arrived after the current, complete request, removed: the connection leaves
        HTTP (a takeover) and no further byte is parsed."""
        data = bytes(self.buffer)
        self.buffer.clear()
        self._state = ERROR
        return data

    def next_event(self) -> RequestEvent:
        """The next event, or ``NEED_DATA``."""
        state = self._state
        if state == HEAD:
            return self._next_head_event()
        if state == LENGTH_BODY:
            return self._next_length_body_event()
        if state == COMPLETE:
            self._state = DONE
            return END_OF_REQUEST
        if state == CHUNKED:
            event = self._chunked.next_event(self.buffer, self._eof)  # type: ignore[union-attr]
            if event is END_OF_REQUEST:
                self._state = DONE
                self._chunked = None
            elif type(event) is RequestError:
                self.close()
            return event
        if state == SIMPLE:
            self._state = ERROR  # an HTTP/0.9 exchange always ends the connection
            return END_OF_REQUEST
        return NEED_DATA

    def close(self) -> None:
        """Read no further byte of this connection, and let go of what is buffered."""
        self._state = ERROR
        self.buffer.clear()
        self._chunked = None

    def _fail(
        self, status: int, message: str | None = None, explain: str | None = None, line: bytes | None = None
    ) -> RequestError:
        """Refuse the request: no byte of this connection is read any more.  ``line``: the
        request line, once a whole one was received."""
        self.close()
        return RequestError(status, message, explain, line)

    def _next_head_event(self) -> RequestHead | RequestError | _NeedData:
        buffer = self.buffer
        if not buffer:
            return NEED_DATA  # the usual call right after a response: nothing arrived yet
        config = self._config
        line = self._line
        match = _PLAIN_LINE.match(buffer) if line is None else None
        if match is not None and len(request_line := match[1]) <= config.max_request_line:
            line_end = match.end() - 1
            method, target, version = request_line.decode("latin-1").split(" ")
            self._line = line = (method, target, version)
            self._plain = True
        elif line is None:
            # RFC 9112 section 2.2: ignore empty lines received before the request line.
            while buffer.startswith((b"\n", b"\r\n")):
                del buffer[: 1 if buffer[0] == 10 else 2]
                self._scanned = 0
            # Resume where the previous read's search stopped: a line arriving a byte at
            # a time must not cost a scan of the whole line per byte.
            limit = config.max_request_line  # bytes before the line's CRLF (or LF)
            line_end = buffer.find(b"\n", self._scanned, limit + 2)
            if line_end < 0:
                size = len(buffer)
                # Too long already, unless the one byte over is the CR of a CRLF: the
                # answer must not depend on where the reads happened to split.
                if size > limit and (size > limit + 1 or buffer[-1] != 13):
                    return self._fail(414)
                self._scanned = size
                return self._fail(0) if self._eof and buffer else NEED_DATA
            if line_end > limit and (line_end > limit + 1 or buffer[line_end - 1] != 13):
                return self._fail(414)
            request_line = bytes(buffer[:line_end]).rstrip(b"\r")
            checked = check_request_line(request_line.decode("latin-1"))
            if isinstance(checked, RequestError):
                return self._fail(checked.status, checked.message, None, request_line)
            if checked[1] == "*" and checked[0] != "OPTIONS":
                # RFC 9112 section 3.2.4: the asterisk form is only for OPTIONS.
                return self._fail(400, None, "The request target * is for OPTIONS only", request_line)
            self._line = line = checked
            self._plain = plain_request_line(checked, line_end, request_line)
            if checked[2] == "HTTP/0.9":
                # No headers, no body, and the connection ends after it.
                self._state = SIMPLE
                buffer.clear()
                return RequestHead(*checked, request_line, [], False, False, 0)
        else:
            line_end = buffer.find(b"\n")
            request_line = bytes(buffer[:line_end]).rstrip(b"\r")
        # Where the head ends, just after its blank line: searched once per read, resumed
        # where the previous read's search ended.
        blank_line = _BLANK_LINE.search(buffer, max(line_end, self._scanned - 2))
        if blank_line is None:
            if len(buffer) > config.max_header_bytes:
                return self._fail(431, "Request header fields too large", None, request_line)
            if self._eof:
                return self._fail(0)
            self._scanned = len(buffer)
            return NEED_DATA
        end = blank_line.end()
        if end > config.max_header_bytes:
            return self._fail(431, "Request header fields too large", None, request_line)
        event = self._heads.parse(buffer, line_end, end, line, request_line, self._plain)
        if type(event) is not RequestHead:
            return self._fail(event.status, event.message, event.explain, request_line)  # type: ignore[union-attr]
        length = event.content_length
        if length is not None and self._body_limit is not None and length > self._body_limit:
            return self._fail(413, None, None, request_line)
        if end == len(buffer):  # the usual case: nothing behind the head yet
            buffer.clear()
        else:
            del buffer[:end]
        if length is None:
            self._state = CHUNKED
            self._chunked = ChunkedDecoder(self._body_limit, config.max_header_bytes)
        elif length:
            self._remaining = length
            self._state = LENGTH_BODY
        else:
            self._state = COMPLETE
        return event

    def _next_length_body_event(self) -> BodyData | EndOfRequest | RequestError | _NeedData:
        """State ``LENGTH_BODY``: what has arrived of the body, then its end.  The bytes are
        sliced straight from the buffer; what follows waits for ``start_next_request``."""
        remaining = self._remaining
        if not remaining:
            self._state = DONE
            return END_OF_REQUEST
        buffer = self.buffer
        if not buffer:
            return self._fail(0) if self._eof else NEED_DATA  # a client leaving mid-body
        data = take_bytes(buffer, remaining)
        self._remaining = remaining - len(data)
        return BodyData(data)
