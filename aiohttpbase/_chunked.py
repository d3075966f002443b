"""Decoding a chunked request body, strictly.

Theory of operation: the chunk-line grammar of RFC 9112 section 7.1 -- a hex size with
nothing around it, ``;name[=token or quoted-string]`` extensions, CRLF -- at most
``MAX_CHUNK_LINE`` bytes per chunk line, CRLF after the data, and trailer fields by the
field-line grammar, bounded like a head.  h11's decoder accepts whitespace after the size,
any bytes but LF in extensions and bare-LF trailer lines, each a request-smuggling
ingredient; so every backend's chunked bodies are decoded here.

Every rule is checked on the bytes received, however they were split: a chunk line is
judged once its LF is in (or once ``MAX_CHUNK_LINE`` bytes came without one), and searches
resume where the previous read's ended.  A body passing the limit is refused (413) at the
chunk line that declares the excess.  Trailer fields are checked and dropped: the stdlib's
handlers never see them.
"""

from __future__ import annotations

import re
from typing import Final

from ._events import END_OF_REQUEST, NEED_DATA, BodyData, EndOfRequest, RequestError, _NeedData

__all__ = ["MAX_CHUNK_LINE", "ChunkedDecoder", "take_bytes"]

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

# Where the decoder stands: a chunk line is awaited, chunk data is arriving, the CRLF
# after the data is awaited, trailer fields are arriving.
_LINE, _DATA, _DATA_END, _TRAILER = range(4)

_INCOMPLETE: Final = RequestError(0)  # the client left mid-body: nobody to answer


def take_bytes(buffer: bytearray, count: int) -> bytes:
    """Up to ``count`` bytes from the front of ``buffer``, removed from it."""
    if len(buffer) <= count:
        data = bytes(buffer)
        buffer.clear()
    else:
        data = bytes(buffer[:count])
        del buffer[:count]
    return data


class ChunkedDecoder:
    """The decoded body of one request, taken from the front of the connection's buffer."""

    __slots__ = ("_body_limit", "_trailer_limit", "_state", "_scanned", "_remaining", "_seen")

    def __init__(self, body_limit: int | None, trailer_limit: int) -> None:
        self._body_limit = body_limit
        #: Bytes of trailer section allowed: what a head may have.
        self._trailer_limit = trailer_limit
        self._state = _LINE
        self._scanned = 0
        #: Chunk data still to come (in ``_DATA``), or trailer bytes so far (``_TRAILER``).
        self._remaining = 0
        self._seen = 0

    def next_event(self, buffer: bytearray, eof: bool) -> BodyData | EndOfRequest | RequestError | _NeedData:
        """The next piece of the decoded body, its end, a refusal, or ``NEED_DATA``
        (or, at ``eof`` before the end, ``RequestError(0)``)."""
        while True:
            state = self._state
            if state == _DATA:
                if not buffer:
                    return _INCOMPLETE if eof else NEED_DATA
                data = take_bytes(buffer, self._remaining)
                self._remaining = remaining = self._remaining - len(data)
                if not remaining:
                    self._state = _DATA_END
                return BodyData(data)
            if state == _DATA_END:
                if buffer[:2] == b"\r\n":
                    del buffer[:2]
                    self._state = _LINE
                    continue
                if len(buffer) >= 2 or (buffer and buffer[0] != 13):
                    return RequestError(400, None, "Chunk data not followed by CRLF")
                return _INCOMPLETE if eof else NEED_DATA
            if state == _LINE:
                end = buffer.find(b"\n", self._scanned, MAX_CHUNK_LINE)
                if end < 0:
                    if len(buffer) >= MAX_CHUNK_LINE:
                        return RequestError(400, None, "Chunk line longer than %d bytes" % MAX_CHUNK_LINE)
                    self._scanned = len(buffer)
                    return _INCOMPLETE if eof else NEED_DATA
                self._scanned = 0
                match = _CHUNK_LINE.fullmatch(buffer, 0, end + 1)
                if match is None:
                    return RequestError(400, None, "Malformed chunk line %r" % bytes(buffer[: min(end, 40)]))
                size = int(match[1], 16)
                del buffer[: end + 1]
                if not size:
                    self._state = _TRAILER
                    self._remaining = 0
                    continue
                seen = self._seen + size
                if self._body_limit is not None and seen > self._body_limit:
                    return RequestError(413)
                self._seen = seen
                self._remaining = size
                self._state = _DATA
                continue
            # _TRAILER: field lines up to an empty one, bounded like a head.
            room = self._trailer_limit - self._remaining
            end = buffer.find(b"\n", self._scanned, room)
            if end < 0:
                if len(buffer) >= room:
                    return RequestError(431, "Request header fields too large")
                self._scanned = len(buffer)
                return _INCOMPLETE if eof else NEED_DATA
            self._scanned = 0
            if end == 1 and buffer[0] == 13:
                del buffer[:2]
                return END_OF_REQUEST
            if _TRAILER_FIELD.fullmatch(buffer, 0, end + 1) is None:
                return RequestError(400, None, "Malformed trailer field %r" % bytes(buffer[: min(end, 40)]))
            self._remaining += end + 1
            del buffer[: end + 1]
