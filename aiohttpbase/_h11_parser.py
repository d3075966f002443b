"""The h11 head parser: the reference for what a well-formed request head is.

Theory of operation: ``RequestReader`` (``_reader``) finds the complete head and applies the
limits and the stdlib's request-line rules.  A plain request line (``_head.plain_request_line``:
one SP between the words, a letters-only method, a visible-ASCII target, ``HTTP/d.d``) is
within h11's request-line grammar; its field lines are cut as h11's receive buffer cuts
them and given to ``h11.Request``, whose constructor checks every field with the code h11's
``Connection`` uses for a head it reads: the name (a token) and value, Content-Length
values and repeats, Transfer-Encoding, the Host count, the method and the target.  That is
h11's verdict without its connection state machine (which this server keeps itself): a
fifth fewer instructions a request (465k -> 376k, callgrind, ``bench/micro.py --parser
h11 --head-cache 0 --varied``).  Any other request line, and every head h11 refuses, is
read by a fresh ``h11.Connection``, so that every refusal is h11's own answer, with its
words.  Obsolete line folding is refused here first (h11 would unfold it).

The fields go to ``_head.finish_head``, which decides what they mean for every backend.
h11 answers every Transfer-Encoding but a lone ``chunked`` with 501 once the field lines
passed its grammar; such a head's fields are then split here (exactly, since each line is
known to be well-formed) and judged by ``finish_head`` like any other, so that a malformed
list gets 400 and only a valid but unsupported coding 501.

The body never reaches h11 (``_reader`` frames it), and neither does the response:
responses are framed by ``_response.ResponseWriter`` so that the status line can carry the
handler's own ``protocol_version`` (h11 always writes HTTP/1.1).
"""

from __future__ import annotations

import h11

from ._events import RequestError, RequestHead
from ._head import CONTENT_LENGTH, FIELD_KINDS, RequestLine, finish_head

__all__ = ["H11HeadParser"]


class H11HeadParser:
    """Request heads parsed by h11 (a ``_head.HeadParser``)."""

    __slots__ = ("_max_head", "_max_fields")

    def __init__(self, max_header_bytes: int, max_header_fields: int) -> None:
        self._max_head = max_header_bytes + 2
        self._max_fields = max_header_fields

    def parse(
        self,
        buffer: bytearray,
        line_end: int,
        end: int,
        line: RequestLine,
        request_line: bytes,
        plain: bool,
    ) -> RequestHead | RequestError:
        # Field lines: every LF but the request line's and the blank line's.  Counted in the
        # buffer itself, before any field is judged.
        if buffer.count(b"\n", 0, end) - 2 > self._max_fields:
            return RequestError(431, "Too many headers")
        if buffer.find(b"\n ", 0, end) >= 0 or buffer.find(b"\n\t", 0, end) >= 0:
            # RFC 9112 section 5.2: obsolete line folding is refused (h11 would unfold it).
            return RequestError(400, None, "Obsolete line folding is not accepted")
        head = bytes(buffer[:end])
        if not plain:
            return self._parse_as_connection(head, line, request_line)
        return self._parse_plain(head, line_end, line, request_line)

    def _parse_plain(
        self, head: bytes, line_end: int, line: RequestLine, request_line: bytes
    ) -> RequestHead | RequestError:
        """A head whose request line is plainly within h11's grammar, checked by ``h11.Request``."""
        method, target, version = line
        # The field lines as h11's receive buffer cuts them: at each LF, one CR before it
        # dropped; the last two pieces are the blank line that ends the head and nothing.
        pairs: list[tuple[bytes, bytes]] = []
        for raw in head[line_end + 1 :].split(b"\n")[:-2]:
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            name, colon, value = raw.partition(b":")
            if not colon:
                return self._parse_as_connection(head, line, request_line)  # h11's 400
            pairs.append((name, value.strip(b" \t")))
        try:
            # h11's request event checks what its Connection checks of a head it reads,
            # with the same code: every name (a token) and value, the Content-Length
            # values and repeats, Transfer-Encoding, the Host count, the method and target.
            # The request line, checked above, and the connection's state are ours.
            event = h11.Request(
                method=method.encode("latin-1"),
                target=target.encode("latin-1"),
                headers=pairs,
                http_version=version[5:].encode("ascii"),
            )
        except h11.ProtocolError:
            # Refused: h11's Connection reads the head again for the answer it gives
            # (its status and words), so a refusal is the reference's own.
            return self._parse_as_connection(head, line, request_line)
        return self._finish(event, head, line, request_line)

    def _parse_as_connection(
        self, head: bytes, line: RequestLine, request_line: bytes
    ) -> RequestHead | RequestError:
        """The whole head read by a fresh ``h11.Connection``: unusual request lines, and
        every refusal."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head)
        conn.receive_data(head)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 501:
                return self._transfer_coding_head(head, line, request_line)
            return RequestError(exc.error_status_hint, None, str(exc))
        assert isinstance(event, h11.Request), event
        return self._finish(event, head, line, request_line)

    @staticmethod
    def _finish(
        event: h11.Request, head: bytes, line: RequestLine, request_line: bytes
    ) -> RequestHead | RequestError:
        # One pass over raw_items(): iterating h11's Headers sequence is several times slower.
        headers: list[tuple[str, str]] = []
        fields: list[tuple[int, str]] = []
        kinds = FIELD_KINDS
        for raw_name, raw_value in event.headers.raw_items():
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers.append((name, value))
            kind = kinds.get(raw_name.lower())  # names in any case: "CONNECTION: close" too
            if kind is not None:
                fields.append((kind, value))
        return finish_head(line, request_line, headers, fields, head)

    @staticmethod
    def _transfer_coding_head(
        head: bytes, line: RequestLine, request_line: bytes
    ) -> RequestHead | RequestError:
        """Judge a head whose Transfer-Encoding h11 refused (see the module docstring)."""
        headers: list[tuple[str, str]] = []
        fields: list[tuple[int, str]] = []
        for raw in head.split(b"\n")[1:]:
            name, colon, value = raw.rstrip(b"\r").partition(b":")
            if not colon:
                continue  # the blank line that ends the head
            text = value.strip(b" \t").decode("latin-1")
            headers.append((name.decode("latin-1"), text))
            kind = FIELD_KINDS.get(name.lower())
            if kind is not None and kind != CONTENT_LENGTH:
                fields.append((kind, text))
            elif kind is not None:
                fields.append((kind, "0"))  # only its presence matters: it is refused beside TE
        return finish_head(line, request_line, headers, fields, head)
