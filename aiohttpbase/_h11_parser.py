"""The h11 request parser backend: the reference for what a well-formed request head is.

Theory of operation: ``HeadCollector`` (``_head``) finds the request head and applies the
limits and the stdlib's request-line rules; this module hands the complete head to a
fresh ``h11.Connection`` per request, and adds the checks h11 leaves to servers or makes
more leniently than the strictest peers (nginx, llhttp in strict mode), all answered 400:

* Content-Length together with Transfer-Encoding, and Transfer-Encoding on HTTP/1.0
  (RFC 9112 section 6.1); a Transfer-Encoding that is not one clean list ending in a
  single ``chunked`` -- ``chunked, gzip``, ``chunked, chunked``, empty, stray commas, two
  fields (RFC 9112 section 6.3; h11 answers all of them 501).  A clean list with a
  coding before ``chunked`` (``gzip, chunked``) is valid but cannot be decoded: 501.
* a ``Host`` that is empty (on HTTP/1.1) or not a host and port (``_head.host_error``);
* control characters other than HTAB in a field value (h11 lets ``\x01`` and DEL through).

A declared body over the limit gets 413.  The body itself is framed by ``HeadCollector``
(a Content-Length body sliced from the buffer, a chunked one decoded by its strict
decoder), so h11 only ever sees heads.  After any error no further byte of the connection
is parsed.

One ``h11.Connection`` per request head keeps h11 out of the response path: responses
are framed by ``_response.ResponseWriter`` so that the status line can carry the handler's
own ``protocol_version`` (h11 always writes HTTP/1.1).
"""

from __future__ import annotations

import re
from typing import Final

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
    host_error,
    keep_alive,
)

__all__ = ["H11RequestParser", "check_request_line", "transfer_coding_error"]

# The control characters but HTAB, CR and LF (which end lines; h11 refuses them in values).
_CONTROLS: Final = bytes(range(9)) + b"\x0b\x0c" + bytes(range(14, 32)) + b"\x7f"


def _has_control(head: bytes) -> bool:
    # Deleting them and comparing lengths is three times as fast as a regex search.
    return len(head.translate(None, _CONTROLS)) != len(head)


_TOKEN: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# A transfer-coding with parameters: token *( OWS ";" OWS token "=" ( token / quoted-string ) ).
_CODING: Final = re.compile(
    r"""([-!#$%&'*+.^_`|~0-9A-Za-z]+)(?:[ \t]*;[ \t]*[-!#$%&'*+.^_`|~0-9A-Za-z]+="""
    r"""(?:[-!#$%&'*+.^_`|~0-9A-Za-z]+|"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))*"""
)


def transfer_coding_error(values: list[str]) -> tuple[int, str] | None:
    """Status and reason to refuse a request's Transfer-Encoding field values with, or None
    when they are exactly ``chunked`` (in any case).

    400 for anything that is not a single field holding a clean list whose last coding is
    ``chunked``, which appears once and without parameters (RFC 9112 sections 6.1 and 6.3:
    anything else leaves the body's length unknown, and peers disagree about it); 501 for
    such a list with codings before ``chunked`` (``gzip, chunked``), valid but not decoded.
    """
    if len(values) != 1:
        return 400, "More than one Transfer-Encoding field"
    codings = values[0].split(",")
    names = []
    for coding in codings:
        match = _CODING.fullmatch(coding.strip(" \t"))
        if match is None:
            return 400, "Malformed Transfer-Encoding (%r)" % values[0]
        names.append(match[1].lower())
    if names[-1] != "chunked":
        return 400, "Transfer-Encoding does not end in chunked (%r)" % values[0]
    if names.count("chunked") > 1:
        return 400, "Transfer-Encoding applies chunked more than once (%r)" % values[0]
    if not _TOKEN.fullmatch(codings[-1].strip(" \t")):
        return 400, "Transfer-Encoding with parameters on chunked (%r)" % values[0]
    if len(names) > 1:
        return 501, "Only the chunked transfer coding is supported"
    return None


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
            if exc.error_status_hint == 501:
                # h11 refuses every Transfer-Encoding but a lone "chunked" with 501, once
                # each field line has passed its grammar: sort out which are malformed.
                return self._refuse_transfer_encoding(head, version)
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
            elif lowered == "host":
                bad_host = host_error(value, version)
                if bad_host is not None:
                    return self._fail(400, None, bad_host)
        if chunked and content_length is not None:
            return self._fail(400, None, "Content-Length together with Transfer-Encoding")
        if chunked and version < "HTTP/1.1":  # (h11 let only HTTP/d.d through)
            return self._fail(400, None, "Transfer-Encoding on an %s request" % version)
        if _has_control(head):
            return self._fail(400, None, "Control character in a header field value")
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

    def _refuse_transfer_encoding(self, head: bytes, version: str) -> RequestError:
        """The answer to a head whose Transfer-Encoding h11 refused (see ``_parse_head``).

        Every field line matched h11's grammar, so splitting them at the first colon is
        exact.  Content-Length beside it, HTTP/1.0 and Host errors come first, as they do
        for a head h11 accepts; then the verdict of ``transfer_coding_error``.
        """
        codings: list[str] = []
        hosts: list[str] = []
        content_length = False
        for line in head.split(b"\n")[1:]:
            name, colon, value = line.rstrip(b"\r").partition(b":")
            if not colon:
                continue  # the blank line that ends the head
            lowered = name.lower()
            if lowered == b"transfer-encoding":
                codings.append(value.strip(b" \t").decode("latin-1"))
            elif lowered == b"content-length":
                content_length = True
            elif lowered == b"host":
                hosts.append(value.strip(b" \t").decode("latin-1"))
        if content_length:
            return self._fail(400, None, "Content-Length together with Transfer-Encoding")
        if version < "HTTP/1.1":
            return self._fail(400, None, "Transfer-Encoding on an %s request" % version)
        if not hosts and version == "HTTP/1.1":
            return self._fail(400, None, "Missing mandatory Host: header")
        if len(hosts) > 1:
            return self._fail(400, None, "Found multiple Host: headers")
        bad_host = host_error(hosts[0], version) if hosts else None
        if bad_host is not None:
            return self._fail(400, None, bad_host)
        if _has_control(head):
            return self._fail(400, None, "Control character in a header field value")
        verdict = transfer_coding_error(codings) or (400, "Malformed Transfer-Encoding")
        return self._fail(verdict[0], None, verdict[1])
