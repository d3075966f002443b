"""The httptools (llhttp) request parser backend: h11's answers at C speed.

Theory of operation: the shared ``HeadCollector`` finds the head and enforces the limits
and the stdlib's request-line rules, exactly as for h11.  Then llhttp splits the header
block into fields, and a short Python pass decides whether the request is *plainly
fine*.  If it is, the request is served from what llhttp produced and its
Content-Length body is sliced straight out of the receive buffer (``HeadCollector``).  If it is not --
llhttp refused it, or anything about it is unusual (a Transfer-Encoding, an odd
Content-Length, a missing, repeated, empty or odd Host, a control character, a method that
is not plain letters) -- the head is handed to the h11 backend, which this class extends, and
h11 gives the verdict.  So every refusal (400/413/501, message and details), every
chunked body and every oddity h11 accepts is handled by the one reference code path, and
the two backends cannot disagree about them; the fast path only has to be right about
what it accepts, and the differential tests in ``tests/test_parsers.py`` check that.

llhttp never sees the real request line: the shared code has already checked it, and
llhttp would refuse methods it does not know (h11 accepts any token, and handlers may
define ``do_PURGE``-style methods), apply its own URL and version rules, and treat
CONNECT as a tunnel.  It is fed a constant request line instead, then the header block.

One llhttp parser serves all the bodiless requests of a connection: it is fed exactly one
head at a time, so it completes that message and never reads pipelined bytes, which
stay in our buffer until ``start_next_request()``.  After a request with a body (which
llhttp is not given), an upgrade or a refusal it is dropped and a new one made (0.2 us).
"""

from __future__ import annotations

from typing import Final

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from ._events import BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from ._h11_parser import H11RequestParser
from ._head import GOOD_HOSTS, HEAD, host_error, keep_alive
from .config import ServerConfig

__all__ = ["HttptoolsRequestParser"]

# What llhttp is told the request line was (see the module docstring).
_REQUEST_LINE: Final = b"GET / HTTP/1.1\r\n"

# Field names the fast path looks at, by their lower-cased bytes.
_HOST, _CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION, _EXPECT = range(5)
_SPECIAL: Final = {
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
    b"expect": _EXPECT,
}


class _FieldSink:
    """The callbacks llhttp sees: only ``on_header``, which builds the header list.

    httptools looks its callbacks up by name once, so leaving out ``on_url``,
    ``on_body``, ``on_message_begin`` and the others saves a Python call each per request.
    Each field is finished here, in the one call llhttp makes for it anyway, rather than
    in a second pass.  A separate object (rather than the parser itself) keeps the parser
    out of a reference cycle, so a closed connection is freed at once, not by the GC.
    """

    __slots__ = ("headers", "special")

    def __init__(self) -> None:
        #: Fields as RequestHead wants them: received order and case, latin-1 text.
        self.headers: list[tuple[str, str]] = []
        #: ``(kind, value)`` of the fields the fast path must look at (see _SPECIAL).
        self.special: list[tuple[int, str]] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps trailing whitespace in a value, h11 strips it.
        text = value.rstrip(b" \t").decode("latin-1")
        self.headers.append((name.decode("latin-1"), text))
        kind = _SPECIAL.get(name.lower())
        if kind is not None:
            self.special.append((kind, text))


class HttptoolsRequestParser(H11RequestParser):
    """Request events from llhttp, with h11 deciding every unusual request."""

    __slots__ = ("_llhttp", "_sink")

    def __init__(
        self,
        config: ServerConfig,
        body_limit: int | None = None,
        head_cache: dict[bytes, RequestHead] | None = None,
    ) -> None:
        super().__init__(config, body_limit, head_cache)
        # Made on the first request: an idle connection costs no llhttp state.
        self._llhttp: HttpRequestParser | None = None
        self._sink = _FieldSink()

    def next_event(self) -> RequestHead | BodyData | EndOfRequest | RequestError | _NeedData:
        """The next event, or ``NEED_DATA``."""
        state = self._state
        if state == HEAD:  # (called directly: this runs two or three times a request)
            return self._next_head_event()
        return H11RequestParser.next_event(self)  # bodies, and the ends

    def _new_llhttp(self) -> HttpRequestParser:
        parser = HttpRequestParser(self._sink)
        # Not lenient_headers: besides passing NUL, VT and FF in values (which h11
        # refuses) it lets "Connection : x" through.  Strict llhttp refuses every control
        # but HTAB in values, so a value with \x01 or DEL (h11 accepts them) takes the h11
        # path: rare, and right.
        parser.set_dangerous_leniencies(
            # h11 accepts bare LF line endings in the head.
            lenient_optional_cr_before_lf=True,
            # Keep the parser usable after "Connection: close": whether the connection
            # stays open is the server's decision, not llhttp's.
            lenient_keep_alive=True,
        )
        self._llhttp = parser
        return parser

    def _parse_head(self, request_line: bytes, line_end: int, end: int) -> RequestHead | RequestError:
        buffer = self._buffer
        method, target, version = self._line  # type: ignore[misc]
        # h11's request-line grammar beyond the stdlib's, checked without a regex:
        # - h11 strips one CR before the LF; a second one makes the line invalid;
        # - the words hold no whitespace, so with this length the line has exactly two
        #   separators and nothing around them, and both must be SP (not HTAB, VT, ...);
        # - a token method: plain letters here, rarer tokens (M-SEARCH) are left to h11;
        # - a visible-ASCII target;
        # - after check_request_line, an 8-character version is exactly HTTP/d.d.
        if (
            line_end - len(request_line) > 1
            or len(request_line) != len(method) + len(target) + len(version) + 2
            or request_line[len(method)] != 32
            or request_line[-len(version) - 1] != 32
            or not (method.isalpha() and method.isascii())
            or not (target.isascii() and target.isprintable())
            or len(version) != 8
        ):
            return super()._parse_head(request_line, line_end, end)

        parser = self._llhttp or self._new_llhttp()
        sink = self._sink
        headers: list[tuple[str, str]] = []  # a new list per request: it goes into the head
        sink.headers = headers
        special = sink.special
        special.clear()
        reuse = True
        try:
            # One call: the constant request line, then the header block.
            parser.feed_data(_REQUEST_LINE + buffer[line_end + 1 : end])
        except HttpParserUpgrade:
            # "Connection: upgrade" with "Upgrade": llhttp stops after the head, which is
            # complete.  We never switch protocols: it is served as a plain request.
            reuse = False
        except HttpParserError:
            # llhttp refused the header block (or something in it we let h11 judge,
            # such as an odd Content-Length or Transfer-Encoding): h11 gives the answer.
            self._llhttp = None
            return super()._parse_head(request_line, line_end, end)

        hosts = 0
        host = ""
        content_length = 0
        lengths = 0
        connection: list[str] = []
        expect_continue = False
        for kind, text in special:
            if kind == _HOST:
                hosts += 1
                host = text
            elif kind == _CONTENT_LENGTH:
                # Only plain ASCII digits here; lists, repeats and the rest go to h11.
                lengths += 1
                if not (text.isascii() and text.isdigit()) or len(text) > 20:
                    lengths = 2
                content_length = int(text) if lengths == 1 else 0
            elif kind == _TRANSFER_ENCODING:
                lengths = 2  # chunked (or refused) bodies are h11's
            elif kind == _CONNECTION:
                connection.append(text)
            elif version == "HTTP/1.1":  # Expect, honoured on HTTP/1.1 only (as h11)
                expect_continue = expect_continue or any(
                    t.strip(" \t").lower() == "100-continue" for t in text.split(",")
                )
        body_limit = self._body_limit
        if (
            lengths > 1
            or hosts > 1
            or (hosts == 0 and version == "HTTP/1.1")
            # Not plainly a host and port (or empty): h11's path decides (_head.host_error).
            or (hosts and host not in GOOD_HOSTS and host_error(host, version) is not None)
            or (body_limit is not None and content_length > body_limit)
        ):
            self._llhttp = None
            return super()._parse_head(request_line, line_end, end)

        if content_length or not reuse:
            self._llhttp = None  # mid-body or after an upgrade: start afresh next time
        del buffer[:end]
        self._start_length_body(content_length)
        return RequestHead(
            method,
            target,
            version,
            request_line,
            headers,
            keep_alive(version, connection),
            expect_continue,
            content_length,
            connection[0] if connection else "",
        )
