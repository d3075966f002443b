"""The sans-IO core in memory: bytes in, events and phases out, response bytes framed.

In the manner of h11's own tests, every exchange is fed whole, a byte at a time, and with
the next request's bytes behind it, on every parser backend; nothing here opens a socket
or runs an event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from aiohttpbase._bridge import INLINE
from aiohttpbase._core import TRANSITIONS, HTTPCore, Phase, Step, advance
from aiohttpbase._events import NEED_DATA, BodyData, EndOfRequest, RequestError, RequestHead
from aiohttpbase._exchange import Exchange
from aiohttpbase._parsers import PARSERS

NEXT = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


FEEDS = [whole, bytewise]


@pytest.fixture(params=sorted(PARSERS))
def make_core(request: Any) -> Callable[..., tuple[HTTPCore, list[bytes]]]:
    def make(
        config: ServerConfig | None = None, body_limit: int | None = None
    ) -> tuple[HTTPCore, list[bytes]]:
        sent: list[bytes] = []
        reader = PARSERS[request.param](config or ServerConfig(), body_limit, None)
        return HTTPCore(reader, sent.append), sent

    return make


def feed(core: HTTPCore, pieces: list[bytes]) -> list[Any]:
    """Feed ``pieces``, collecting events until the core needs data (or an answer)."""
    events: list[Any] = []
    for piece in pieces:
        core.receive_data(piece)
        while True:
            event = core.next_event()
            if event is NEED_DATA:
                break
            events.append(event)
            if isinstance(event, (EndOfRequest, RequestError)):
                break
    return events


def exchange_for(head: RequestHead, body_complete: bool = True) -> Exchange:
    exchange = Exchange(head, INLINE, False, True, 0.0, ("127.0.0.1", 1))
    exchange.body_complete = body_complete
    return exchange


def respond(core: HTTPCore, head: RequestHead, response: bytes, **facts: Any) -> bool:
    """Write ``response`` as a handler would and end it; returns the keep-alive verdict."""
    exchange = exchange_for(head, **facts)
    core.writer.write(response)
    keep_alive = core.finish_response(exchange)
    core.next_request(keep_alive)
    return keep_alive


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


# -- requests in, phases along --------------------------------------------------------


@pytest.mark.parametrize("split", FEEDS)
def test_a_get_moves_through_the_phases(make_core: Any, split: Any) -> None:
    core, sent = make_core()
    assert core.phase is Phase.IDLE and core.idle
    data = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    core.receive_data(data[:1])
    assert core.phase is Phase.HEAD and not core.idle
    events = feed(core, split(data[1:]))
    head, end = events
    assert isinstance(head, RequestHead) and (head.method, head.target) == ("GET", "/a")
    assert isinstance(end, EndOfRequest)
    assert core.phase is Phase.RESPONDING
    assert respond(core, head, OK) is True
    assert b"".join(sent) == OK
    assert core.phase is Phase.IDLE and core.idle and core.served == 1


@pytest.mark.parametrize("split", FEEDS)
def test_a_post_body_comes_out_whole_then_the_request_ends(make_core: Any, split: Any) -> None:
    core, _ = make_core()
    data = b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
    events = feed(core, split(data))
    assert isinstance(events[0], RequestHead) and core.phase is Phase.RESPONDING
    assert b"".join(e.data for e in events if isinstance(e, BodyData)) == b"hello world"
    assert isinstance(events[-1], EndOfRequest)


@pytest.mark.parametrize("split", FEEDS)
def test_a_chunked_body_is_decoded(make_core: Any, split: Any) -> None:
    core, _ = make_core()
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nT: v\r\n\r\n"
    events = feed(core, split(data))
    assert events[0].content_length is None
    assert b"".join(e.data for e in events if isinstance(e, BodyData)) == b"hello!"
    assert isinstance(events[-1], EndOfRequest)


@pytest.mark.parametrize("split", FEEDS)
def test_trailing_bytes_wait_until_the_response_is_complete(make_core: Any, split: Any) -> None:
    core, sent = make_core()
    first = b"POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    events = feed(core, split(first + NEXT + NEXT))
    head = events[0]
    assert [type(e) for e in events][-1] is EndOfRequest
    assert core.next_event() is NEED_DATA  # pipelined: answered in order
    assert core.buffered_bytes == 2 * len(NEXT)
    assert respond(core, head, OK)
    for _ in range(2):
        second = core.next_event()
        assert isinstance(second, RequestHead) and second.target == "/next"
        assert isinstance(core.next_event(), EndOfRequest)
        assert core.next_event() is NEED_DATA
        respond(core, second, OK)
    assert b"".join(sent) == OK * 3 and core.served == 3 and core.idle


# -- the one keep-alive decision ---------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "response", "keep_alive", "added"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", OK, True, b""),
        # The client asked to close: the response says so, and the connection ends.
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", OK, False, b"Connection: close\r\n"),
        # HTTP/1.0 keeps the connection only when asked, and the response then says so.
        (b"GET / HTTP/1.0\r\n\r\n", OK, False, b""),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", OK, True, b"Connection: keep-alive\r\n"),
        # No length on HTTP/1.1: chunked, and the connection stays.
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nhi",
            True,
            b"Transfer-Encoding: chunked\r\n",
        ),
        # No length to an HTTP/1.0 client: delimited by closing.
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nhi",
            False,
            b"Connection: close\r\n",
        ),
        # A short body: only closing tells the client.
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", False, b""),
        # The handler's own HTTP/1.0 status line closes.
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", False, b""),
    ],
)
def test_keep_alive_is_decided_from_request_and_response(
    make_core: Any, request_bytes: bytes, response: bytes, keep_alive: bool, added: bytes
) -> None:
    core, sent = make_core()
    head = feed(core, [request_bytes])[0]
    assert respond(core, head, response) is keep_alive
    wire = b"".join(sent)
    assert added in wire.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    assert core.closing is not keep_alive
    assert core.phase is (Phase.IDLE if keep_alive else Phase.MUST_CLOSE)


@pytest.mark.parametrize(
    "fact",
    [
        {"must_close": True},  # a failure, a timeout, self.connection.close()
        {"dispatch_ok": False},  # refused by handle_expect_100
        {"close_connection": True},  # the handler's own close_connection
    ],
)
def test_exchange_facts_end_the_connection(make_core: Any, fact: dict[str, bool]) -> None:
    core, _ = make_core()
    head = feed(core, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])[0]
    exchange = exchange_for(head)
    if "close_connection" in fact:
        exchange.handler = type("Handler", (), {"close_connection": True})()
    else:
        setattr(exchange, *next(iter(fact.items())))
    core.writer.write(OK)
    assert core.finish_response(exchange) is False


def test_an_answer_before_the_body_ends_closes(make_core: Any) -> None:
    core, _ = make_core()
    events = feed(core, [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"])
    head = events[0]
    assert core.phase is Phase.BODY
    assert respond(core, head, OK, body_complete=False) is False
    assert core.phase is Phase.MUST_CLOSE


def test_draining_begun_mid_request_closes_after_its_response(make_core: Any) -> None:
    core, _ = make_core()
    head = feed(core, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])[0]
    core.draining = True  # a graceful shutdown began while the handler ran
    assert respond(core, head, OK) is False
    assert core.phase is Phase.MUST_CLOSE


def test_draining_closes_after_the_response_and_says_so(make_core: Any) -> None:
    core, sent = make_core()
    core.draining = True
    head = feed(core, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])[0]
    assert respond(core, head, OK) is False
    assert b"Connection: close\r\n" in b"".join(sent)


# -- leaving HTTP ---------------------------------------------------------------------------

UPGRADE = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


@pytest.mark.parametrize("split", FEEDS)
def test_a_101_to_an_upgrade_request_switches_and_hands_on_the_bytes_behind_it(
    make_core: Any, split: Any
) -> None:
    core, sent = make_core()
    events = feed(core, split(UPGRADE + b"\x81\x05frame"))
    head = events[0]
    assert isinstance(events[-1], EndOfRequest)
    core.writer.on_switch = lambda: core.switch(head) == b"\x81\x05frame"
    core.writer.write(SWITCHING + b"raw bytes")
    core.writer.flush()
    assert core.phase is Phase.SWITCHED
    assert b"".join(sent) == SWITCHING + b"raw bytes"  # no framing added, nothing withheld
    core.receive_data(b"more")
    assert core.next_event() is NEED_DATA  # nothing is parsed any more


def test_a_2xx_to_connect_switches(make_core: Any) -> None:
    core, _ = make_core()
    head = feed(core, [b"CONNECT example:443 HTTP/1.1\r\nHost: example:443\r\n\r\nhello"])[0]
    assert core.switch(head) == b"hello"
    assert core.phase is Phase.SWITCHED


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",  # nobody asked to upgrade
        b"GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",  # ignored on 1.0
    ],
)
def test_a_101_nobody_asked_for_does_not_switch(make_core: Any, request_bytes: bytes) -> None:
    core, sent = make_core()
    head = feed(core, [request_bytes])[0]
    core.writer.on_switch = lambda: core.switch(head) is not None
    assert respond(core, head, SWITCHING + b"bytes") is False  # delimited by closing
    assert core.phase is Phase.MUST_CLOSE
    assert b"".join(sent) == SWITCHING + b"bytes"


def test_no_switch_before_the_request_body_is_in(make_core: Any) -> None:
    core, _ = make_core()
    data = b"POST /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x\r\nContent-Length: 5\r\n\r\nab"
    head = feed(core, [data])[0]
    assert core.phase is Phase.BODY
    assert core.switch(head) is None


# -- refusals and the end ------------------------------------------------------------------


@pytest.mark.parametrize("split", FEEDS)
def test_a_refused_head_stops_all_parsing(make_core: Any, split: Any) -> None:
    core, _ = make_core()
    events = feed(core, split(b"GET / HTTP/1.1\r\n\r\n" + NEXT))  # no Host
    assert len(events) == 1 and isinstance(events[0], RequestError) and events[0].status == 400
    core.receive_data(NEXT)
    assert core.next_event() is NEED_DATA
    assert not core.closing  # until the refusal is answered
    core.end()
    assert core.closing and core.phase is Phase.MUST_CLOSE


def test_a_body_over_the_limit_is_refused_before_it_arrives(make_core: Any) -> None:
    core, _ = make_core(body_limit=4)
    events = feed(core, [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"])
    assert [(type(e), getattr(e, "status", None)) for e in events] == [(RequestError, 413)]


def test_a_client_leaving_mid_body_is_an_answerless_error(make_core: Any) -> None:
    core, _ = make_core()
    feed(core, [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"])
    core.receive_eof()
    events = []
    while (event := core.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, RequestError):
            break
    assert isinstance(events[-1], RequestError) and events[-1].status == 0
    assert core.peer_eof


def test_a_lost_connection_lets_go_of_what_it_received(make_core: Any) -> None:
    core, _ = make_core()
    core.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
    core.lost()
    assert core.phase is Phase.CLOSED and core.buffered_bytes == 0


# -- the table ---------------------------------------------------------------------------------


def test_every_phase_can_end_and_be_lost() -> None:
    for phase in Phase:
        assert TRANSITIONS[phase, Step.LOST] is Phase.CLOSED
        if phase is not Phase.CLOSED:
            assert TRANSITIONS[phase, Step.END] is Phase.MUST_CLOSE


def test_a_step_the_table_does_not_allow_raises() -> None:
    with pytest.raises(RuntimeError, match="phase IDLE cannot take step BODY_END"):
        advance(Phase.IDLE, Step.BODY_END)
    with pytest.raises(RuntimeError):
        advance(Phase.SWITCHED, Step.NEXT)
