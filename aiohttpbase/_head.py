"""Collecting a request head: the part every parser backend shares.

Theory of operation: whatever parses the header fields (h11, llhttp), the server decides
itself where a request head ends and whether it is acceptable at all, so that every
backend enforces the same limits and gives the same answers:

1. Empty lines before the request line are skipped (RFC 9112 section 2.2).
2. The request line is limited (414) and checked by ``BaseHTTPRequestHandler``'s rules
   first (``check_request_line``): a bad version answers 400 "Bad request version",
   HTTP/2+ answers 505, and an HTTP/0.9 simple request is served, as the stdlib does.
   The asterisk-form target (``*``) is for ``OPTIONS`` only (400 otherwise).
3. The head (up to the first blank line; bare LF line endings count) is limited in bytes
   and fields (431) whether or not it arrived in one read -- h11 only measures a head
   while it is incomplete (python-hyper/h11#182) and llhttp not at all.
4. Obsolete line folding is refused (400).

Bodies are framed here too, for every backend: a ``Content-Length`` body is sliced from
the buffer (``LENGTH_BODY``), and a chunked one is decoded by the strict decoder below
(``_next_chunked_event``): the chunk-line grammar of RFC 9112 section 7.1 (hex size with
nothing around it, ``;name[=token or quoted-string]`` extensions, CRLF), at most
``MAX_CHUNK_LINE`` bytes per chunk line, CRLF after the data, and trailer fields by the
field-line grammar -- h11's decoder accepts whitespace after the size, any bytes but LF
in extensions and bare-LF trailer lines, each a request-smuggling ingredient.

Parsing a head is a pure function of its bytes and the server's settings, so the heads
of requests without a body or with a plain Content-Length one are remembered, by their
exact bytes, in a dictionary shared by the server's connections
(``ServerConfig.head_cache``): a head seen before -- a load tester's, a page polled by the
same browser, a health check, a form posted again -- costs one dictionary lookup instead
of a parse, and its body is sliced from the buffer.  Only successes are remembered, so a
hit is a head that passed every check above and the backend's.

``HeadCollector`` holds the connection's receive buffer and this logic; a backend
subclasses it and implements ``_parse_head``, which turns the complete head at the start
of the buffer into a ``RequestHead`` (or a ``RequestError``), and ``next_event`` for the
body.  After any error no further byte of the connection is parsed.
"""

from __future__ import annotations

import re
from typing import Final

from ._events import END_OF_REQUEST, NEED_DATA, BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from .config import ServerConfig

__all__ = ["GOOD_HOSTS", "MAX_CHUNK_LINE", "HeadCollector", "check_request_line", "host_error", "keep_alive"]


_COMMON_VERSIONS: Final = frozenset({"HTTP/1.1", "HTTP/1.0"})

# Longer heads are not remembered: they are rarely repeated, and would be costly to hold.
_CACHED_HEAD_BYTES: Final = 4096

# Parser states shared by the backends (a backend may add its own after these).
HEAD, DONE, SIMPLE, ERROR, COMPLETE, LENGTH_BODY, CHUNK_LINE, CHUNK_DATA, CHUNK_END, TRAILER = range(10)
# COMPLETE: a request without a body was parsed; its EndOfRequest is the next event.
# LENGTH_BODY: a plain Content-Length body, sliced from the buffer (_next_length_body_event).
# CHUNK_*, TRAILER: a chunked body (_next_chunked_event): a chunk line is awaited, chunk
# data is arriving, the CRLF after the data is awaited, trailer fields are arriving.

#: The longest chunk line accepted, CRLF included (nginx and uvicorn bound theirs alike):
#: the hex size and the extensions, which nobody uses and nothing must be able to grow.
MAX_CHUNK_LINE: Final = 4096

_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# RFC 9110 section 5.6.4: qdtext and quoted-pair; no CTL but HTAB, no bare CR, LF or NUL.
_QUOTED_STRING: Final = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
# RFC 9112 section 7.1.1, without the BWS (as llhttp in strict mode): no space anywhere.
_CHUNK_LINE: Final = re.compile(
    rb"([0-9A-Fa-f]{1,20})(?:;%s(?:=(?:%s|%s))?)*\r\n" % (_TOKEN, _TOKEN, _QUOTED_STRING)
)
# RFC 9112 section 5 (no obsolete folding): name, colon, a value of HTAB, SP, VCHAR, obs-text.
_TRAILER_FIELD: Final = re.compile(rb"%s:[\t -~\x80-\xff]*\r\n" % _TOKEN)

# RFC 9112 section 3.2 and RFC 3986 section 3.2.2: uri-host [ ":" port ], where the host is
# an IP-literal or a reg-name.  Leaves out the shapes peers disagree about: userinfo
# ("user@host"), a path, a list ("a, b", "a,b"), whitespace and controls.
_REG_NAME_CHAR: Final = r"[0-9A-Za-z._~!$&'()*+;=-]"  # unreserved and sub-delims but ","
HOST_VALUE: Final = re.compile(
    rf"(?:{_REG_NAME_CHAR}*(?:%[0-9A-Fa-f]{{2}}{_REG_NAME_CHAR}*)*|\[[0-9A-Za-z:._~!$&'()*+;=%-]+\])(?::[0-9]*)?"
)


#: Host values found fine: a server hears the same few over and over, and a set lookup
#: costs a tenth of the check.  Emptied when full, so it never grows.
GOOD_HOSTS: Final[set[str]] = set()


def host_error(value: str, version: str) -> str | None:
    """Why a ``Host`` value is refused (400), or None if it is fine.

    Empty on HTTP/1.1 (RFC 9112 section 3.2 lets an empty one stand only for a target
    without an authority, which an origin server never serves), or not a host and port.
    """
    if value in GOOD_HOSTS:
        return None
    if not value:
        return "Empty Host: header" if version >= "HTTP/1.1" else None
    if HOST_VALUE.fullmatch(value) is None:
        return "Invalid Host: header (%r)" % value
    if len(GOOD_HOSTS) >= 64:
        GOOD_HOSTS.clear()
    GOOD_HOSTS.add(value)
    return None


def check_request_line(line: str) -> RequestError | tuple[str, str, str]:
    """Apply the stdlib's ``parse_request`` rules to a request line (CRLF stripped).

    Returns ``(command, target, version)`` or the error the stdlib would answer.  The
    messages are the stdlib's; they contain ``repr`` of client input, which escapes every
    control character, so they are safe in a status line.
    """
    words = line.split()
    if len(words) == 3 and words[2] in _COMMON_VERSIONS:
        return words[0], words[1], words[2]  # the usual case: nothing more to check
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


def keep_alive(version: str, connection_values: list[str]) -> bool:
    """Whether a request allows the connection to stay open, given its Connection values.

    HTTP/1.1 stays open unless ``close`` is listed; any other version only with
    ``keep-alive`` (and without ``close``), as ``BaseHTTPRequestHandler`` decides.
    """
    if not connection_values:
        return version == "HTTP/1.1"
    tokens = {t.strip().lower() for value in connection_values for t in value.split(",")}
    if version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens and "close" not in tokens


def _end_of_head(buffer: bytearray, start: int) -> int:
    """Where the head in ``buffer`` ends (just after its blank line), or -1.

    A blank line ends the head; h11 accepts bare LF line endings, and so do we: the first
    ``\n\r\n`` or ``\n\n`` from ``start``, whichever comes first.  Two C-level finds (a
    regex search costs three times as much), once per read, resumed where the previous
    read's search ended.
    """
    crlf = buffer.find(b"\n\r\n", start)
    lf = buffer.find(b"\n\n", start, crlf + 1 if crlf >= 0 else len(buffer))
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


class HeadCollector:
    """Receive buffer, request-head framing and limits shared by the parser backends.

    Bytes in (``feed``), request events out (``next_event``), one request at a time.
    After ``EndOfRequest`` the parser holds any further bytes until the response has been
    sent and ``start_next_request()`` is called: pipelined requests are answered in order.
    """

    __slots__ = (
        "_config",
        "_buffer",
        "_state",
        "_line",
        "_scanned",
        "_eof",
        "_body_limit",
        "_body_seen",
        "_head_cache",
        "_remaining",
    )

    def __init__(
        self,
        config: ServerConfig,
        body_limit: int | None = None,
        head_cache: dict[bytes, RequestHead] | None = None,
    ) -> None:
        self._config = config
        #: Heads of bodiless requests by their bytes, shared by a server's connections
        #: (see the module docstring); None to parse every head.
        self._head_cache = head_cache
        self._buffer = bytearray()
        self._state = HEAD
        #: The checked request line while the rest of its head is still arriving.
        self._line: tuple[str, str, str] | None = None
        #: How far the buffer has been searched for the end of the head.
        self._scanned = 0
        self._eof = False
        #: Bodies larger than this are refused with 413 (None: no limit).
        self._body_limit = body_limit
        self._body_seen = 0
        #: Body bytes still to come in state ``LENGTH_BODY``.
        self._remaining = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet turned into events (bounds read buffering)."""
        return len(self._buffer)

    @property
    def idle(self) -> bool:
        """True between requests, before any byte of the next one has arrived."""
        return self._state == HEAD and not self._buffer

    def feed_eof(self) -> None:
        """The peer will send no more bytes."""
        self._eof = True

    def start_next_request(self) -> None:
        """The response to the current request is complete: parse the next one."""
        if self._state == DONE:
            self._state = HEAD
            self._line = None
            self._scanned = 0
            self._body_seen = 0

    def take_buffered(self) -> bytes:
        """What arrived after the current, complete request, removed: the connection leaves
        HTTP (a takeover, ``_takeover``) and no further byte is parsed."""
        data = bytes(self._buffer)
        self._buffer.clear()
        self._state = ERROR
        return data

    def _fail(self, status: int, message: str | None = None, explain: str | None = None) -> RequestError:
        """Refuse the request: no byte of this connection is parsed any more."""
        self._state = ERROR
        self._buffer.clear()
        return RequestError(status, message, explain)

    def _parse_head(self, request_line: bytes, line_end: int, end: int) -> RequestHead | RequestError:
        """Turn the head ``buffer[:end]`` into an event.

        ``request_line`` is the first line without its CRs and LF; its LF is at
        ``line_end``.
        Called once the head is complete and within the limits; it consumes the head
        from the buffer and sets the state for the body.
        """
        raise NotImplementedError

    def _next_head_event(self) -> RequestHead | RequestError | _NeedData:
        buffer = self._buffer
        if not buffer:
            return NEED_DATA  # the usual call right after a response: nothing arrived yet
        config = self._config
        if self._line is None:
            # Looked up on a head's first read only: a head dribbling in must not cost a
            # search of everything received so far per read.
            cache = self._head_cache
            if cache is not None and not self._scanned:
                head = self._remembered_head(cache)
                if head is not None:
                    return head
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
                return self._fail(checked.status, checked.message)
            if checked[1] == "*" and checked[0] != "OPTIONS":
                # RFC 9112 section 3.2.4: the asterisk form is only for OPTIONS.
                return self._fail(400, None, "The request target * is for OPTIONS only")
            self._line = checked
            if checked[2] == "HTTP/0.9":
                return self._simple_request(request_line)
        else:
            line_end = buffer.find(b"\n")
            request_line = bytes(buffer[:line_end]).rstrip(b"\r")
        end = _end_of_head(buffer, max(line_end, self._scanned - 2))
        if end < 0:
            if len(buffer) > config.max_header_bytes:
                return self._fail(431, "Request header fields too large")
            if self._eof:
                return self._fail(0)
            self._scanned = len(buffer)
            return NEED_DATA
        if end > config.max_header_bytes:
            return self._fail(431, "Request header fields too large")
        # Counting and finding in the buffer itself: no copy of the head is made here.
        if buffer.count(b"\n", 0, end) - 2 > config.max_header_fields:
            return self._fail(431, "Too many headers")
        if buffer.find(b"\n ", 0, end) >= 0 or buffer.find(b"\n\t", 0, end) >= 0:
            return self._fail(400, None, "Obsolete line folding is not accepted")
        cache = self._head_cache
        if cache is None or end > _CACHED_HEAD_BYTES:
            return self._parse_head(request_line, line_end, end)
        key = bytes(buffer[:end])
        event = self._parse_head(request_line, line_end, end)
        if type(event) is RequestHead and event.content_length is not None and not event.expect_continue:
            if len(cache) >= config.head_cache:
                # Emptied when full: no LRU bookkeeping on the hot path, and a client
                # sending endless distinct heads only makes its own requests miss.
                cache.clear()
            cache[key] = event
        return event

    def _remembered_head(self, cache: dict[bytes, RequestHead]) -> RequestHead | None:
        """The remembered head the buffer starts with, consumed; None if there is none."""
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n") + 4
        if end < 4:
            return None
        # A hit has exactly these bytes, whose head ends here: the first blank line of a
        # remembered head is its end.
        whole = end == len(buffer)  # the usual case: one copy, not two
        head = cache.get(bytes(buffer) if whole else bytes(buffer[:end]))
        if head is None:
            return None
        length = head.content_length or 0
        if self._body_limit is not None and length > self._body_limit:
            return None  # parsed again, to be refused under this lower limit
        if whole:
            buffer.clear()
        else:
            del buffer[:end]
        self._start_length_body(length)
        return head

    def _start_length_body(self, length: int) -> None:
        """The head is consumed; ``length`` body bytes follow (none: the request is complete)."""
        if length:
            self._remaining = length
            self._state = LENGTH_BODY
        else:
            self._state = COMPLETE

    def _next_length_body_event(self) -> BodyData | EndOfRequest | RequestError | _NeedData:
        """State ``LENGTH_BODY``: what has arrived of the body, then its end.  The bytes are
        sliced straight from the buffer; what follows waits for ``start_next_request``."""
        remaining = self._remaining
        if not remaining:
            self._state = DONE
            return END_OF_REQUEST
        buffer = self._buffer
        if not buffer:
            return self._fail(0) if self._eof else NEED_DATA  # a client leaving mid-body
        if len(buffer) <= remaining:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:remaining])
            del buffer[:remaining]
        self._remaining = remaining - len(data)
        return BodyData(data)

    def _start_chunked_body(self) -> None:
        """The head is consumed; a chunked body follows (see ``_next_chunked_event``)."""
        self._state = CHUNK_LINE
        self._scanned = 0

    def _next_chunked_event(self) -> BodyData | EndOfRequest | RequestError | _NeedData:
        """States ``CHUNK_LINE`` to ``TRAILER``: the decoded body, then its end.

        Every rule is checked on the bytes received, however they were split: a chunk line
        is judged once its LF is in (or once ``MAX_CHUNK_LINE`` bytes came without one),
        and searches resume where the previous read's ended.  A body passing the limit is
        refused (413) at the chunk line that declares the excess.  Trailer fields are
        checked and dropped, as the stdlib never sees them.
        """
        buffer = self._buffer
        while True:
            state = self._state
            if state == CHUNK_DATA:
                if not buffer:
                    return self._fail(0) if self._eof else NEED_DATA  # a client leaving mid-body
                remaining = self._remaining
                if len(buffer) <= remaining:
                    data = bytes(buffer)
                    buffer.clear()
                else:
                    data = bytes(buffer[:remaining])
                    del buffer[:remaining]
                self._remaining = remaining = remaining - len(data)
                if not remaining:
                    self._state = CHUNK_END
                return BodyData(data)
            if state == CHUNK_END:
                if buffer[:2] == b"\r\n":
                    del buffer[:2]
                    self._state = CHUNK_LINE
                    continue
                if len(buffer) >= 2 or (buffer and buffer[0] != 13):
                    return self._fail(400, None, "Chunk data not followed by CRLF")
                return self._fail(0) if self._eof else NEED_DATA
            if state == CHUNK_LINE:
                end = buffer.find(b"\n", self._scanned, MAX_CHUNK_LINE)
                if end < 0:
                    if len(buffer) >= MAX_CHUNK_LINE:
                        return self._fail(400, None, "Chunk line longer than %d bytes" % MAX_CHUNK_LINE)
                    self._scanned = len(buffer)
                    return self._fail(0) if self._eof else NEED_DATA
                self._scanned = 0
                match = _CHUNK_LINE.fullmatch(buffer, 0, end + 1)
                if match is None:
                    return self._fail(400, None, "Malformed chunk line %r" % bytes(buffer[: min(end, 40)]))
                size = int(match[1], 16)
                del buffer[: end + 1]
                if not size:
                    self._state = TRAILER
                    self._remaining = 0  # bytes of trailer section so far
                    continue
                seen = self._body_seen + size
                if self._body_limit is not None and seen > self._body_limit:
                    return self._fail(413)
                self._body_seen = seen
                self._remaining = size
                self._state = CHUNK_DATA
                continue
            # TRAILER: field lines up to an empty one, bounded like a head.
            room = self._config.max_header_bytes - self._remaining
            end = buffer.find(b"\n", self._scanned, room)
            if end < 0:
                if len(buffer) >= room:
                    return self._fail(431, "Request header fields too large")
                self._scanned = len(buffer)
                return self._fail(0) if self._eof else NEED_DATA
            self._scanned = 0
            if end == 1 and buffer[0] == 13:
                del buffer[:2]
                self._state = DONE
                return END_OF_REQUEST
            if _TRAILER_FIELD.fullmatch(buffer, 0, end + 1) is None:
                return self._fail(400, None, "Malformed trailer field %r" % bytes(buffer[: min(end, 40)]))
            self._remaining += end + 1
            del buffer[: end + 1]

    def _simple_request(self, line: bytes) -> RequestHead:
        """An HTTP/0.9 request: no headers, no body, and the connection ends after it."""
        method, target, version = self._line  # type: ignore[misc]
        self._state = SIMPLE
        self._buffer.clear()
        return RequestHead(method, target, version, line, [], False, False, 0)
