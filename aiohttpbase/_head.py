"""What a request head means, whatever parsed it: the part the parser backends share.

Theory of operation: a head parser backend (``_h11_parser``, ``_httptools_parser``) turns
the bytes of one complete, size-checked head into its header fields; everything the
fields *mean* is decided here, once, for both:

* ``check_request_line``: ``BaseHTTPRequestHandler``'s rules for the request line (a bad
  version answers 400 "Bad request version", HTTP/2+ answers 505, an HTTP/0.9 simple
  request is served), applied before any backend sees the head;
* ``finish_head``: Host (present on HTTP/1.1, once, a host and port: ``host_error``),
  Content-Length beside Transfer-Encoding, Transfer-Encoding on HTTP/1.0 or other than
  one clean ``chunked`` (``transfer_coding_error``), control characters in values,
  ``Connection`` (the keep-alive the request allows: ``keep_alive``) and
  ``Expect: 100-continue``, giving one ``RequestHead`` or one ``RequestError``.

A backend reports the fields ``finish_head`` needs as ``(kind, value)`` pairs beside the
full list (``FIELD_KINDS``), gathered in the pass it makes over the fields anyway.

``HeadParser`` is the interface of a backend, and ``RememberedHeads`` a decorator around
one: parsing a head is a pure function of its bytes and the server's settings, so with
``ServerConfig.head_cache`` on, the heads of requests with a known length are remembered
by their exact bytes in a dictionary the server's connections share.
"""

from __future__ import annotations

import re
from typing import Final, Protocol

from ._events import RequestError, RequestHead

__all__ = [
    "FIELD_KINDS",
    "GOOD_HOSTS",
    "HeadParser",
    "RememberedHeads",
    "check_request_line",
    "finish_head",
    "has_control",
    "host_error",
    "keep_alive",
    "transfer_coding_error",
]

#: A checked request line: method, target and version.
RequestLine = tuple[str, str, str]

_COMMON_VERSIONS: Final = frozenset({"HTTP/1.1", "HTTP/1.0"})

# The header fields ``finish_head`` looks at, by their lower-cased names.
HOST, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, EXPECT = range(5)
FIELD_KINDS: Final = {
    b"host": HOST,
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"connection": CONNECTION,
    b"expect": EXPECT,
}

# RFC 9112 section 3.2 and RFC 3986 section 3.2.2: uri-host [ ":" port ], where the host is
# an IP-literal or a reg-name.  Leaves out the shapes peers disagree about: userinfo
# ("user@host"), a path, a list ("a, b", "a,b"), whitespace and controls.
_REG_NAME_CHAR: Final = r"[0-9A-Za-z._~!$&'()*+;=-]"  # unreserved and sub-delims but ","
HOST_VALUE: Final = re.compile(
    rf"(?:{_REG_NAME_CHAR}*(?:%[0-9A-Fa-f]{{2}}{_REG_NAME_CHAR}*)*|\[[0-9A-Za-z:._~!$&'()*+;=%-]+\])(?::[0-9]*)?"
)

# The control characters but HTAB, CR and LF (which end lines; h11 refuses them in values).
_CONTROLS: Final = bytes(range(9)) + b"\x0b\x0c" + bytes(range(14, 32)) + b"\x7f"


def has_control(head: bytes) -> bool:
    """Whether ``head`` holds a control character other than HTAB, CR and LF."""
    # Deleting them and comparing lengths is three times as fast as a regex search.
    return len(head.translate(None, _CONTROLS)) != len(head)


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


def plain_request_line(line: RequestLine, line_end: int, request_line: bytes) -> bool:
    """Whether a request line the stdlib's rules accepted (``check_request_line``) is plainly
    within h11's grammar too, so that a backend may skip h11's request-line parse.

    Checked without a regex: h11 strips one CR before the LF, and a second makes the line
    invalid; the words hold no whitespace, so with this length the line has exactly two
    separators and nothing around them, and both must be SP (not HTAB, VT, ...); a token
    method: plain letters (rarer tokens, M-SEARCH, are left to h11's parse); a visible-ASCII
    target; and after ``check_request_line`` an 8-character version is exactly HTTP/d.d.
    ``line_end``: where the line's LF is.
    """
    method, target, version = line
    return (
        line_end - len(request_line) <= 1
        and len(request_line) == len(method) + len(target) + len(version) + 2
        and request_line[len(method)] == 32
        and request_line[-len(version) - 1] == 32
        and method.isalpha()
        and method.isascii()
        and target.isascii()
        and target.isprintable()
        and len(version) == 8
    )


def keep_alive(version: str, connection_values: list[str]) -> bool:
    """Whether a request allows the connection to stay open, given its Connection values.

    HTTP/1.1 (and a later 1.x, served as 1.1) stays open unless ``close`` is listed; an
    older version only with ``keep-alive`` (and without ``close``), as
    ``BaseHTTPRequestHandler`` decides.
    """
    if not connection_values:
        return version >= "HTTP/1.1"
    tokens = {t.strip().lower() for value in connection_values for t in value.split(",")}
    if version >= "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens and "close" not in tokens


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


def finish_head(
    line: RequestLine,
    request_line: bytes,
    headers: list[tuple[str, str]],
    fields: list[tuple[int, str]],
    raw: bytes | None = None,
) -> RequestHead | RequestError:
    """The request a head stands for, or why it is refused (400, 501).

    ``fields``: the ``(kind, value)`` pairs of the fields ``FIELD_KINDS`` names, in order,
    values stripped; a Content-Length value is one the backend checked (digits, repeats
    agreeing).  ``raw``: the head's bytes, to refuse control characters in values, unless
    the backend refused those itself.
    """
    method, target, version = line
    hosts = 0
    content_length: int | None = None
    codings: list[str] = []
    connection: list[str] = []
    expect_continue = False
    for kind, value in fields:
        if kind == HOST:
            hosts += 1
            if value not in GOOD_HOSTS:  # (host_error's first step, without the call)
                bad_host = host_error(value, version)
                if bad_host is not None:
                    return RequestError(400, None, bad_host)
        elif kind == CONTENT_LENGTH:
            content_length = int(value)
        elif kind == TRANSFER_ENCODING:
            codings.append(value)
        elif kind == CONNECTION:
            connection.append(value)
        elif version == "HTTP/1.1":  # Expect, honoured on HTTP/1.1 only (as h11)
            expect_continue = expect_continue or any(
                token.strip(" \t").lower() == "100-continue" for token in value.split(",")
            )
    # RFC 9112 section 3.2: every HTTP/1.1 request has one Host -- and a later 1.x too,
    # which is served as 1.1 (h11 and the stdlib let "HTTP/1.2" through without one).
    if hosts != 1 and (hosts or version >= "HTTP/1.1"):
        missing = "Found multiple Host: headers" if hosts else "Missing mandatory Host: header"
        return RequestError(400, None, missing)
    if codings:
        if content_length is not None:
            return RequestError(400, None, "Content-Length together with Transfer-Encoding")
        if version < "HTTP/1.1":  # (the request line allowed only HTTP/d.d)
            return RequestError(400, None, "Transfer-Encoding on an %s request" % version)
    if raw is not None and has_control(raw):
        return RequestError(400, None, "Control character in a header field value")
    if codings:
        verdict = transfer_coding_error(codings)
        if verdict is not None:
            return RequestError(verdict[0], None, verdict[1])
    return RequestHead(
        method,
        target,
        version,
        request_line,
        headers,
        # (keep_alive's usual case inline: no Connection field)
        keep_alive(version, connection) if connection else version >= "HTTP/1.1",
        expect_continue,
        None if codings else content_length or 0,
        connection[0] if connection else "",
    )


class HeadParser(Protocol):
    """A parser backend: one complete head in, its request (or refusal) out."""

    def parse(
        self,
        buffer: bytearray,
        line_end: int,
        end: int,
        line: RequestLine,
        request_line: bytes,
        plain: bool,
    ) -> RequestHead | RequestError:
        """Parse the head ``buffer[:end]``, whose request line (checked, ``line``; as
        received without CRs and LF, ``request_line``) has its LF at ``line_end``;
        ``plain``: that line is plainly within h11's grammar (``plain_request_line``).

        The head is within every size limit but the number of fields, which the backend
        checks before it judges any field (431 "Too many headers" past
        ``max_header_fields``); the buffer is left as it is."""
        ...


# Longer heads are not remembered: they are rarely repeated, and would be costly to hold.
_REMEMBERED_HEAD_BYTES: Final = 4096


class RememberedHeads:
    """A ``HeadParser`` that remembers what another one parsed, by the head's bytes.

    Only requests of a known length without an expectation are kept (a chunked body or
    a ``100 Continue`` needs more than the head), so a hit is a head that passed every
    check.  The dictionary is emptied when full: no LRU bookkeeping per request, and a
    client sending endless distinct heads only makes its own requests miss.
    """

    __slots__ = ("_parser", "_heads", "_size")

    def __init__(self, parser: HeadParser, heads: dict[bytes, RequestHead], size: int) -> None:
        self._parser = parser
        self._heads = heads
        self._size = size

    def parse(
        self,
        buffer: bytearray,
        line_end: int,
        end: int,
        line: RequestLine,
        request_line: bytes,
        plain: bool,
    ) -> RequestHead | RequestError:
        if end > _REMEMBERED_HEAD_BYTES:
            return self._parser.parse(buffer, line_end, end, line, request_line, plain)
        key = bytes(buffer[:end])
        heads = self._heads
        head = heads.get(key)
        if head is not None:
            return head
        event = self._parser.parse(buffer, line_end, end, line, request_line, plain)
        if type(event) is RequestHead and event.content_length is not None and not event.expect_continue:
            if len(heads) >= self._size:
                heads.clear()
            heads[key] = event
        return event
