"""The httptools (llhttp) head parser: h11's answers at C speed.

Theory of operation: ``RequestReader`` (``_reader``) finds the head and enforces the limits
and the stdlib's request-line rules, exactly as for h11.  Then llhttp splits the header
block into fields, and a short check decides whether the request is *plainly fine*: one
Host, at most one Content-Length of plain digits, no Transfer-Encoding.  If it is, the
fields go to ``_head.finish_head`` like h11's.  If it is not -- llhttp refused it, or
anything about it is unusual (a Transfer-Encoding, an odd Content-Length, a missing or
repeated Host, a control character, a method that is not plain letters) -- the head goes
to the h11 parser this one holds, and h11 gives the verdict.  So every refusal of a field
line's grammar, every chunked body and every oddity h11 accepts is judged by the one
reference code path, and the two backends cannot disagree about them; the fast path only
has to be right about what it accepts, and the differential tests in
``tests/test_parsers.py`` check that.

llhttp never sees the real request line: the shared code has already checked it, and
llhttp would refuse methods it does not know (h11 accepts any token, and handlers may
define ``do_PURGE``-style methods), apply its own URL and version rules, and treat
CONNECT as a tunnel.  It is fed a constant request line instead, then the header block.

One llhttp parser serves all the bodiless requests of a connection: it is fed exactly one
head at a time, so it completes that message.  After a request with a body (which
llhttp is not given), an upgrade or a refusal it is dropped and a new one made (0.2 us).
"""

from __future__ import annotations

from typing import Any, Final

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from ._events import RequestError, RequestHead
from ._h11_parser import H11HeadParser
from ._head import (
    CONTENT_LENGTH,
    FIELD_KINDS,
    HOST,
    TRANSFER_ENCODING,
    RequestLine,
    finish_head,
)

__all__ = ["HttptoolsHeadParser"]

# What llhttp is told the request line was (see the module docstring).
_REQUEST_LINE: Final = b"GET / HTTP/1.1\r\n"


class _FieldSink:
    """The callbacks llhttp sees: only ``on_header``, which builds the field lists.

    httptools looks its callbacks up by name once, so leaving out ``on_url``,
    ``on_body``, ``on_message_begin`` and the others saves a Python call each per request.
    Each field is finished here, in the one call llhttp makes for it anyway, rather than
    in a second pass.  A separate object (rather than the parser itself) keeps the parser
    out of a reference cycle, so a closed connection is freed at once, not by the GC.
    """

    __slots__ = ("headers", "fields")

    def __init__(self) -> None:
        #: Fields as RequestHead wants them: received order and case, latin-1 text.
        self.headers: list[tuple[str, str]] = []
        #: ``(kind, value)`` of the fields ``finish_head`` looks at (``FIELD_KINDS``).
        self.fields: list[tuple[int, str]] = []

    def on_header(self, name: bytes, value: bytes, _kind: Any = FIELD_KINDS.get) -> None:
        # llhttp keeps trailing whitespace in a value, h11 strips it.  (``_kind``: the
        # lookup bound once, not found through the module and the dict per field.)
        text = value.rstrip(b" \t").decode("latin-1")
        self.headers.append((name.decode("latin-1"), text))
        kind = _kind(name.lower())
        if kind is not None:
            self.fields.append((kind, text))


class HttptoolsHeadParser:
    """Request heads parsed by llhttp, with h11 deciding every unusual one (a ``_head.HeadParser``)."""

    __slots__ = ("_llhttp", "_sink", "_reference", "_max_fields")

    def __init__(self, max_header_bytes: int, max_header_fields: int) -> None:
        # Made on the first request: an idle connection costs no llhttp state.
        self._llhttp: HttpRequestParser | None = None
        self._sink = _FieldSink()
        self._reference = H11HeadParser(max_header_bytes, max_header_fields)
        self._max_fields = max_header_fields

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

    def parse(
        self,
        buffer: bytearray,
        line_end: int,
        end: int,
        line: RequestLine,
        request_line: bytes,
        plain: bool,
    ) -> RequestHead | RequestError:
        if not plain:
            return self._reference.parse(buffer, line_end, end, line, request_line, plain)
        version = line[2]

        parser = self._llhttp or self._new_llhttp()
        sink = self._sink
        headers: list[tuple[str, str]] = []  # a new list per request: it goes into the head
        sink.headers = headers
        fields = sink.fields = []
        try:
            # One call: the constant request line, then the header block.
            parser.feed_data(_REQUEST_LINE + buffer[line_end + 1 : end])
        except HttpParserUpgrade:
            # "Connection: upgrade" with "Upgrade": llhttp stops after the head, which is
            # complete.  Whether the connection switches is the handler's business.
            self._llhttp = None
        except HttpParserError:
            # llhttp refused the header block (or something in it we let h11 judge,
            # such as an odd Content-Length or Transfer-Encoding): h11 gives the answer.
            # Obsolete line folding is among them, in every position (llhttp refuses a
            # field line that starts with SP or HTAB), and the h11 backend refuses it too:
            # so the fold check runs only on this path.
            self._llhttp = None
            return self._reference.parse(buffer, line_end, end, line, request_line, plain)
        if len(headers) > self._max_fields:
            # llhttp accepted every field line, so these are all of them (the h11 backend
            # counts the lines itself before judging any).
            self._llhttp = None
            return RequestError(431, "Too many headers")

        hosts = 0
        lengths = 0
        for kind, text in fields:
            if kind == HOST:
                hosts += 1
            elif kind == CONTENT_LENGTH:
                # Only plain ASCII digits here; lists, repeats and the rest go to h11.
                lengths += 1 if text.isascii() and text.isdigit() and len(text) <= 20 else 2
            elif kind == TRANSFER_ENCODING:
                lengths = 2  # chunked (or refused) bodies are h11's
        if lengths > 1 or hosts > 1 or (hosts == 0 and version >= "HTTP/1.1"):
            self._llhttp = None
            return self._reference.parse(buffer, line_end, end, line, request_line, plain)
        if lengths:
            self._llhttp = None  # llhttp waits for the body it was not given: start afresh
        return finish_head(line, request_line, headers, fields)
