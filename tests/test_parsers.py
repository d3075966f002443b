"""Parser backends in memory: same events, limits and refusals from every backend.

Each test runs against every registered backend; the differential tests at the end also
check that the backends agree with each other event for event (error details included)
on a corpus of mutated requests, fed whole, a byte at a time and in random pieces.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from aiohttpbase._events import NEED_DATA, BodyData, EndOfRequest, RequestError, RequestHead
from aiohttpbase._h11_parser import H11HeadParser
from aiohttpbase._parsers import PARSERS, parser_class
from tests.test_bad_requests import CASES

BACKENDS = sorted(PARSERS)
SMALL = ServerConfig(max_request_line=200, max_header_bytes=400, max_header_fields=5)


def head_tuple(head: RequestHead) -> tuple[Any, ...]:
    return tuple(getattr(head, name) for name in RequestHead.__slots__)


def run(
    backend: str,
    pieces: Iterable[bytes],
    *,
    config: ServerConfig | None = None,
    body_limit: int | None = None,
    eof: bool = True,
    head_cache: dict[bytes, RequestHead] | None = None,
) -> list[Any]:
    """Feed ``pieces`` and collect normalized events, starting each next request at once.

    Heads become tuples of all their fields, adjacent body pieces are joined into one
    ``("body", bytes)``, errors become ``("error", status, message, explain)``.
    """
    # A cache given is used at the size the server would use when it is turned on.
    config = config or ServerConfig(head_cache=256 if head_cache is not None else 0)
    parser = PARSERS[backend](config, body_limit, head_cache)
    out: list[Any] = []

    def drain() -> None:
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, RequestHead):
                out.append(("head", *head_tuple(event)))
            elif isinstance(event, BodyData):
                assert event.data, "empty BodyData"
                if out and out[-1][0] == "body":
                    out[-1] = ("body", out[-1][1] + event.data)
                else:
                    out.append(("body", event.data))
            elif isinstance(event, EndOfRequest):
                out.append(("end",))
                parser.start_next_request()
            else:
                assert isinstance(event, RequestError)
                out.append(("error", event.status, event.message, event.explain))

    for piece in pieces:
        parser.feed(piece)
        drain()
    if eof:
        parser.feed_eof()
        drain()
    return out


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_pieces(data: bytes, rng: random.Random) -> list[bytes]:
    pieces, i = [], 0
    while i < len(data):
        n = rng.choice((1, 2, 3, 7, 16, 64, 1000))
        pieces.append(data[i : i + n])
        i += n
    return pieces


FEEDS = [whole, bytewise]


@pytest.fixture(params=BACKENDS)
def backend(request: Any) -> str:
    return str(request.param)


# -- selection --------------------------------------------------------------------------


def test_auto_prefers_httptools_when_installed() -> None:
    pytest.importorskip("httptools")
    from aiohttpbase._httptools_parser import HttptoolsHeadParser

    assert parser_class("auto") is PARSERS["httptools"]
    assert parser_class("h11") is PARSERS["h11"]
    assert parser_class("httptools").backend is HttptoolsHeadParser  # type: ignore[attr-defined]


def test_unknown_parser_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown parser"):
        parser_class("picohttp")


# -- well-formed requests ---------------------------------------------------------------

GET = b"GET /a?b=c HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n"


@pytest.mark.parametrize("feed", FEEDS)
def test_simple_get(backend: str, feed: Any) -> None:
    events = run(backend, feed(GET))
    assert events == [
        (
            "head",
            "GET",
            "/a?b=c",
            "HTTP/1.1",
            b"GET /a?b=c HTTP/1.1",
            [("Host", "example"), ("User-Agent", "t"), ("Accept", "*/*")],
            True,
            False,
            0,
            "",
        ),
        ("end",),
    ]


@pytest.mark.parametrize("feed", FEEDS)
def test_field_case_order_whitespace_and_latin1(backend: str, feed: Any) -> None:
    data = b"GET / HTTP/1.1\r\nhOsT: x\r\nX-B:  \tv a l \t \r\nX-A:\r\nX-B: \xe9\t\xff\r\n\r\n"
    (head, end) = run(backend, feed(data))
    assert head[5] == [("hOsT", "x"), ("X-B", "v a l"), ("X-A", ""), ("X-B", "\xe9\t\xff")]
    assert end == ("end",)


@pytest.mark.parametrize("feed", FEEDS)
def test_bare_lf_line_endings(backend: str, feed: Any) -> None:
    (head, _end) = run(backend, feed(b"GET / HTTP/1.1\nHost: x\nX: y\n\n"))
    assert head[4] == b"GET / HTTP/1.1" and head[5] == [("Host", "x"), ("X", "y")]


@pytest.mark.parametrize(
    ("data", "keep_alive", "expect"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True, False),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", False, False),
        (b"GET / HTTP/1.0\r\n\r\n", False, False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True, False),
        (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", True, False),  # a later 1.x is served as 1.1
        (b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", True, True),
        (b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", False, False),
    ],
)
def test_keep_alive_and_expect(backend: str, data: bytes, keep_alive: bool, expect: bool) -> None:
    head = run(backend, whole(data))[0]
    assert head[0] == "head" and (head[6], head[7]) == (keep_alive, expect)


@pytest.mark.parametrize("feed", FEEDS)
def test_content_length_body(backend: str, feed: Any) -> None:
    data = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
    events = run(backend, feed(data))
    assert [e[0] for e in events] == ["head", "body", "end"]
    assert events[0][8] == 11 and events[1] == ("body", b"hello world")  # content_length


@pytest.mark.parametrize("feed", FEEDS)
def test_chunked_body_with_extensions_and_trailers(backend: str, feed: Any) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b'5;ext=1\r\nhello\r\n1;a;b="q \\" ;"\r\n \r\n05\r\nworld\r\n0\r\nX-Trailer: t\t\xe9\r\n\r\n'
    )
    events = run(backend, feed(data))
    assert [e[0] for e in events] == ["head", "body", "end"]
    assert events[0][8] is None  # chunked: no length known up front
    assert events[1] == ("body", b"hello world")


@pytest.mark.parametrize("feed", FEEDS)
def test_methods_llhttp_does_not_know_and_upgrade_requests(backend: str, feed: Any) -> None:
    data = (
        b"M-SEARCH /x HTTP/1.1\r\nHost: x\r\n\r\n"
        b"FROB /x HTTP/1.1\r\nHost: x\r\n\r\n"
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
        b"CONNECT example:443 HTTP/1.1\r\nHost: example:443\r\n\r\n"
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi"
        b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    events = run(backend, feed(data))
    heads = [e for e in events if e[0] == "head"]
    assert [(h[1], h[2]) for h in heads] == [
        ("M-SEARCH", "/x"),
        ("FROB", "/x"),
        ("OPTIONS", "*"),
        ("CONNECT", "example:443"),
        ("GET", "/ws"),
        ("GET", "/last"),
    ]
    assert ("body", b"hi") in events and events[-1] == ("end",)


@pytest.mark.parametrize("feed", FEEDS)
def test_pipelined_requests_wait_for_start_next_request(backend: str, feed: Any) -> None:
    first = b"POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    second = b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
    third = b"POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
    parser = PARSERS[backend](ServerConfig(), None)
    seen: list[Any] = []
    for piece in feed(first + second + third):
        parser.feed(piece)
    for expected_target in ("/1", "/2", "/3"):
        while True:
            event = parser.next_event()
            assert event is not NEED_DATA
            seen.append(event)
            if isinstance(event, EndOfRequest):
                break
        assert [e.target for e in seen if isinstance(e, RequestHead)][-1] == expected_target
        # The next request's bytes are held, unparsed, until the response is done.
        assert parser.next_event() is NEED_DATA and parser.next_event() is NEED_DATA
        assert parser.buffered_bytes > 0 or expected_target == "/3"
        parser.start_next_request()
    assert parser.next_event() is NEED_DATA and parser.idle
    assert b"".join(e.data for e in seen if isinstance(e, BodyData)) == b"abcxyz"


def test_many_keep_alive_requests_reuse_one_parser(backend: str) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    events = run(backend, [request] * 50 + [request * 50])
    assert len(events) == 200 and events.count(("end",)) == 100


@pytest.mark.parametrize("feed", FEEDS)
def test_http09_and_leading_empty_lines(backend: str, feed: Any) -> None:
    assert run(backend, feed(b"GET /x\r\nignored")) == [
        ("head", "GET", "/x", "HTTP/0.9", b"GET /x", [], False, False, 0, ""),
        ("end",),
    ]
    events = run(backend, feed(b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert events[0][1:4] == ("GET", "/", "HTTP/1.1")


# -- refusals ---------------------------------------------------------------------------


def expected_status(status_line: bytes) -> int:
    return int(status_line[9:12])


# Byte-at-a-time feeding of the huge cases (70 KiB heads) is left to the limit tests,
# which run it with a small configuration; every other case is fed every way.
SHAPES = [
    pytest.param(feed, data, status, id=f"{feed.__name__}-{status[9:40].decode(errors='replace')}")
    for feed in FEEDS
    for data, status in CASES
    if not (feed is bytewise and len(data) > 5000)
]


@pytest.mark.parametrize(("feed", "data", "status"), SHAPES)
def test_bad_request_shapes(backend: str, feed: Any, data: bytes, status: bytes) -> None:
    """Every case of test_bad_requests, in memory: one error, nothing parsed after it."""
    events = run(backend, feed(data + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert events[-1][:2] == ("error", expected_status(status)), events
    assert [e[0] for e in events].count("head") <= 1
    message = status[13:].decode()
    if message and not message.startswith(("Bad Request", "Request-URI", "Request Header")):
        assert events[-1][2] is not None and events[-1][2].startswith(message)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x\r\nHost: x\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.10\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x0bb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x0cb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1" + b"0" * 20 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 21 + b"\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
    ],
)
def test_more_refusals_agree_with_h11(backend: str, data: bytes) -> None:
    """Refusals beyond test_bad_requests: the answer is h11's, whatever the backend."""
    events = run(backend, whole(data + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert events[-1][0] == "error" and events[-1][1] in (400, 501)
    assert events == run("h11", whole(data + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))


def test_body_limit_413(backend: str) -> None:
    over = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
    assert run(backend, whole(over), body_limit=10)[-1][:2] == ("error", 413)
    assert run(backend, whole(over), body_limit=11)[-1] == ("end",)
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    assert run(backend, whole(chunked), body_limit=10)[-1][:2] == ("error", 413)


def test_client_leaving_mid_head_or_body_is_a_silent_close(backend: str) -> None:
    assert run(backend, whole(b"GET / HTTP/1.1\r\nHost"))[-1] == ("error", 0, None, None)
    events = run(backend, whole(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"))
    assert events[-2:] == [("body", b"abc"), ("error", 0, None, None)]
    assert run(backend, whole(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")) == run(
        "h11", whole(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    )


# -- limits, whether the head arrives in one piece or many ------------------------------

LIMIT_CASES = [
    (b"GET /" + b"a" * 187 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, None),  # 201 bytes
    (b"GET /" + b"a" * 186 + b" HTTP/1.1\r\nHost: x\r\n\r\n", None, None),  # 200 bytes exactly
    (b"GET /" + b"a" * 187 + b" HTTP/1.1\nHost: x\n\n", 414, None),  # 201 bytes, bare LF
    (b"GET /" + b"a" * 186 + b" HTTP/1.1\nHost: x\n\n", None, None),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 400 + b"\r\n\r\n", 431, "Request header fields too large"),
    (
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(6)) + b"\r\n",
        431,
        "Too many headers",
    ),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(4)) + b"\r\n", None, None),
    # Too many fields is the answer even when a field line is also bad (counted first).
    (
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(4))
        + b"Bad Name: v\r\n\r\n",
        431,
        "Too many headers",
    ),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(4))
        + b" folded\r\n\r\n",
        431,
        "Too many headers",
    ),
]


@pytest.mark.parametrize("feed", [whole, bytewise, lambda d: random_pieces(d, random.Random(7))])
@pytest.mark.parametrize(("data", "status", "message"), LIMIT_CASES)
def test_limits_in_one_piece_or_many(
    backend: str, feed: Any, data: bytes, status: int | None, message: str | None
) -> None:
    events = run(backend, feed(data), config=SMALL)
    if status is None:
        assert events[-1] == ("end",), events
    else:
        assert events == [("error", status, message, None)]


def test_default_limits_on_a_head_that_arrives_whole(backend: str) -> None:
    too_long = b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert run(backend, whole(too_long))[-1][:2] == ("error", 414)
    big = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"a" * 90000 + b"\r\n\r\n"
    assert run(backend, whole(big))[-1][:2] == ("error", 431)
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: v\r\n" * 100 + b"\r\n"
    assert run(backend, whole(many))[-1][:3] == ("error", 431, "Too many headers")


# -- differential: every backend against h11, event for event ---------------------------

SEEDS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /p?q=1 HTTP/1.0\r\nConnection: keep-alive\r\nX-A:  b \t\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"M-SEARCH /x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"PUT /x HTTP/1.1\nHost: x\nContent-Length: 3\nConnection: close\n\nabc",
    b"GET /x\r\n",
]
ALPHABET = b" \t\r\n\x00\x01\x0b\x0c\x7f\xe9:,;-0129aAzZ/"
SPECIAL_LINES = [
    b"Host: y",
    b"Content-Length: 3",
    b"Content-Length: 03",
    b"Content-Length: 3, 3",
    b"Content-Length:  2 ",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: gzip, chunked",
    b"Host: a@b",
    b"Host:",
    b"X: a\x01",
    b"Connection: close",
    b"Expect: 100-continue",
    b"Upgrade: h2c",
    b"X:",
    b"x-y: \xff",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(buf) + 1)
        op = rng.randrange(5)
        if op == 0:
            buf[i:i] = bytes([rng.choice(ALPHABET)])
        elif op == 1 and buf:
            del buf[min(i, len(buf) - 1)]
        elif op == 2 and buf:
            buf[min(i, len(buf) - 1)] = rng.choice(ALPHABET)
        elif op == 3:
            line_start = buf.find(b"\n") + 1
            buf[line_start:line_start] = rng.choice(SPECIAL_LINES) + b"\r\n"
        else:
            buf = bytearray(buf.swapcase())
    return bytes(buf)


@pytest.mark.parametrize("backend_name", [b for b in BACKENDS if b != "h11"])
def test_backends_agree_on_mutated_requests(backend_name: str) -> None:
    rng = random.Random(20240601)
    follow = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"
    for round_ in range(3000):
        data = mutate(rng.choice(SEEDS), rng) + follow
        for pieces in (whole(data), random_pieces(data, rng)):
            # Against h11 fed the same pieces: h11's own error details can depend on them.
            assert run(backend_name, pieces) == run("h11", pieces), (round_, data)
    for data in SEEDS:
        assert run(backend_name, bytewise(data + follow)) == run("h11", whole(data + follow))


@pytest.mark.parametrize(
    "block",
    [
        b"Host: x\r\nX: a\r\n folded\r\n\r\n",
        b"Host: x\r\nX: a\r\n\tfolded\r\n\r\n",
        b" X: a\r\nHost: x\r\n\r\n",  # a fold on the first field line
        b"Host: x\nX: a\n b\n\n",  # bare LF line endings
        b"Host: x\r\nX:\r\n b\r\n\r\n",  # an empty value folded
        b"Host: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n b\r\n\r\n",
    ],
)
def test_obsolete_line_folding_is_refused(backend: str, block: bytes) -> None:
    # Each backend refuses it: h11's own check, and llhttp's refusal sends the head to h11.
    assert run(backend, whole(b"GET / HTTP/1.1\r\n" + block)) == [
        ("error", 400, None, "Obsolete line folding is not accepted")
    ]


def test_h11_request_event_agrees_with_h11_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The h11 backend checks a head with a plain request line through ``h11.Request``; for
    every mutated head (and each bad-request case) the events must be exactly those of the
    same backend reading every head with a fresh ``h11.Connection``."""
    rng = random.Random(20261201)
    follow = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"
    heads = [mutate(rng.choice(SEEDS), rng) + follow for _ in range(3000)]
    heads += [data + follow for data in SEEDS] + [case[0] for case in CASES]
    by_request_event = [run("h11", whole(data)) for data in heads]

    def as_connection(self: H11HeadParser, head: bytes, line_end: int, line: Any, request_line: bytes) -> Any:
        return self._parse_as_connection(head, line, request_line)

    monkeypatch.setattr(H11HeadParser, "_parse_plain", as_connection)
    by_connection = [run("h11", whole(data)) for data in heads]
    for data, fast, reference in zip(heads, by_request_event, by_connection, strict=True):
        assert fast == reference, data
    # The comparison means something only if both kinds of answer are common among them.
    served = sum(1 for events in by_request_event if events and events[0][0] == "head")
    assert 500 < served < len(heads) - 500


# -- the shared head cache --------------------------------------------------------------


def test_a_repeated_head_is_served_from_the_cache(backend: str) -> None:
    cache: dict[bytes, RequestHead] = {}
    first = PARSERS[backend](ServerConfig(), None, cache)
    first.feed(GET)
    head = first.next_event()
    assert isinstance(head, RequestHead) and list(cache) == [GET]
    second = PARSERS[backend](ServerConfig(), None, cache)
    second.feed(GET + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    assert second.next_event() is head  # not parsed again
    assert isinstance(second.next_event(), EndOfRequest)
    assert second.next_event() is NEED_DATA  # the pipelined request waits its turn
    second.start_next_request()
    following = second.next_event()
    assert isinstance(following, RequestHead) and following.target == "/next"


def test_a_repeated_head_with_a_body_is_remembered_and_its_body_sliced(backend: str) -> None:
    post = b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    cache: dict[bytes, RequestHead] = {}
    pieces = [post + b"he", b"llo" + GET]
    first = run(backend, pieces, head_cache=cache)
    assert list(cache) == [post, GET]
    assert run(backend, pieces, head_cache=cache) == first  # now both heads are hits
    assert [e[0] for e in first] == ["head", "body", "end", "head", "end"]
    assert first[1] == ("body", b"hello")
    # A parser with a lower body limit refuses the remembered head, as a parse would.
    assert run(backend, pieces, body_limit=3, head_cache=cache)[-1][:2] == ("error", 413)


@pytest.mark.parametrize(
    "data",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",  # an expectation
        b"GET / HTTP/1.1\r\n\r\n",  # refused (no Host)
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 5000 + b"\r\n\r\n",  # too long to keep
    ],
)
def test_only_heads_with_a_known_length_and_no_expectation_are_remembered(backend: str, data: bytes) -> None:
    cache: dict[bytes, RequestHead] = {}
    parser = PARSERS[backend](ServerConfig(), None, cache)
    parser.feed(data)
    parser.next_event()
    assert cache == {}


def test_a_full_cache_is_emptied_before_it_grows(backend: str) -> None:
    cache: dict[bytes, RequestHead] = {}
    config = ServerConfig(head_cache=2)
    for n in range(5):
        parser = PARSERS[backend](config, None, cache)
        parser.feed(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        assert isinstance(parser.next_event(), RequestHead)
        assert 1 <= len(cache) <= 2
