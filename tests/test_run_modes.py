"""The framing and connection behaviour users depend on, in every run mode, on every parser.

Handler code runs inline on the loop (``HTTPServer``), on a worker thread
(``ThreadingHTTPServer``) or as a task (``async def do_X``), and each way reaches the
response and the keep-alive decision by its own path (``_runners``).  What a client sees --
keep-alive, pipelining order, HEAD/204/304 without body, chunked or close-delimited
bodies, ``Connection: close`` from either side, ``close_connection``, a failing handler --
must not depend on it.  Each test takes ``run_mode`` (conftest) and serves the async twin
of its handler in the ``async`` mode.

Responses are parsed with ``http.client`` from the raw bytes, one after the other, and
nothing may be left over: a stray byte is a framing error.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import io
import socket
import time
from typing import Any

import pytest

import aiohttpbase
from aiohttpbase import ServerConfig
from tests import handlers
from tests.conftest import read_until_closed, server_class_for

H = b"Host: x\r\n"
LATE = 70_000  # more than the response cork (64 KiB): the head is out before the failure


class _Unclosable(io.BytesIO):
    def close(self) -> None:  # an ``HTTPResponse`` closes its file once read
        pass


class _Bytes:
    """Enough of a socket for ``http.client.HTTPResponse``."""

    def __init__(self, file: io.BytesIO) -> None:
        self.file = file

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BytesIO:
        return self.file


def parse(raw: bytes, methods: list[str]) -> list[http.client.HTTPResponse]:
    """The responses to requests with these methods, in order; each response's ``body``
    is what its framing delimits, and no byte may follow the last one."""
    file = _Unclosable(raw)
    responses = []
    for method in methods:
        response = http.client.HTTPResponse(_Bytes(file), method=method)  # type: ignore[arg-type]
        response.begin()
        response.body = response.read()  # type: ignore[attr-defined]
        responses.append(response)
    rest = file.read()
    assert rest == b"", f"bytes after the last response: {rest[:200]!r}"
    return responses


def request(method: str, path: str, *fields: bytes, body: bytes = b"") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n%s" % (method.encode(), path.encode(), b"".join(fields), body)


CLOSE = b"Connection: close\r\n"


class Behaviour(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    """One path per behaviour; the async twin answers the same by ``async def``."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        elif path == "/chunked":  # no Content-Length: the server frames it
            self.send_response(200)
            self.end_headers()
            for piece in (b"one ", b"two ", b"three"):
                self.wfile.write(piece)
        elif path in ("/204", "/304"):
            self.send_response(int(path[1:]))
            self.end_headers()
            self.wfile.write(b"body that must not be sent")
        elif path == "/close-header":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")
        elif path == "/close-attribute":
            self.close_connection = True
            self.do_ok()
        elif path == "/close-socket":
            self.connection.close()  # the stdlib idiom for "last response on this connection"
            self.do_ok()
        elif path == "/keep-alive-flag":  # what the stdlib's rules made of the request
            body = repr(self.close_connection).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/raise":
            raise RuntimeError("boom before writing")
        elif path == "/raise-after-head":  # a head still corked: the 500 replaces it
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            raise RuntimeError("boom after the head")
        elif path == "/raise-after-some-body":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"12345")
            raise RuntimeError("boom after some body")
        elif path == "/raise-late":
            self.send_response(200)
            self.send_header("Content-Length", str(2 * LATE))
            self.end_headers()
            self.wfile.write(b"x" * LATE)
            raise RuntimeError("boom mid-body")
        else:
            self.send_error(404)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"body that must not be sent")

    def do_ok(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class AsyncBehaviour(Behaviour):
    async def do_GET(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)  # answer from a later turn of the loop, not the dispatching one
        if self.path == "/chunked":
            self.send_response(200)
            self.end_headers()
            for piece in (b"one ", b"two ", b"three"):
                self.wfile.write(piece)
                await self.wfile.drain()
            return
        Behaviour.do_GET(self)
        await self.wfile.drain()

    async def do_HEAD(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        Behaviour.do_HEAD(self)


def start(serve: Any, run_mode: str, **kwargs: Any) -> Any:
    handler = AsyncBehaviour if run_mode == "async" else Behaviour
    return serve(handler, server_class_for(run_mode), **kwargs)


def test_keep_alive_many_requests_one_connection(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    conn = server.connection()
    ports = set()
    for _ in range(20):
        conn.request("GET", "/ok")
        response = conn.getresponse()
        assert (response.status, response.read(), response.will_close) == (200, b"ok", False)
        ports.add(conn.sock.getsockname()[1])
    conn.close()
    assert len(ports) == 1


def test_pipelined_requests_answered_in_order(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Echo)
    bodies = [b"body%d" % i * (i + 1) for i in range(10)]
    requests = b"".join(
        request("POST", f"/{i}", b"Content-Length: %d\r\n" % len(body), body=body)
        for i, body in enumerate(bodies)
    )
    raw = server.raw(requests + request("GET", "/", CLOSE))  # Echo has no do_GET: 501, then closed
    responses = parse(raw, ["POST"] * 10 + ["GET"])
    assert [r.getheader("X-Path") for r in responses[:10]] == [f"/{i}" for i in range(10)]
    assert [r.body for r in responses[:10]] == bodies  # type: ignore[attr-defined]
    assert [r.status for r in responses] == [200] * 10 + [501]


def test_pipelined_mixed_responses_keep_their_framing(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    paths = ["/ok", "/chunked", "/204", "/ok", "/chunked", "/304", "/ok"]
    raw = server.raw(b"".join(request("GET", p) for p in paths[:-1]) + request("GET", paths[-1], CLOSE))
    responses = parse(raw, ["GET"] * len(paths))
    assert [(r.status, r.body) for r in responses] == [  # type: ignore[attr-defined]
        (200, b"ok"), (200, b"one two three"), (204, b""), (200, b"ok"), (200, b"one two three"), (304, b""),
        (200, b"ok"),
    ]  # fmt: skip


def test_pipelined_after_send_error_stops_at_its_close(serve: Any, run_mode: str) -> None:
    """``send_error`` says ``Connection: close``, as the stdlib's does: the requests after
    it are not answered."""
    server = start(serve, run_mode)
    raw = server.raw(request("GET", "/ok") + request("GET", "/404") + request("GET", "/ok"))
    ok, missing = parse(raw, ["GET", "GET"])
    assert (ok.status, missing.status) == (200, 404)
    assert missing.getheader("Connection") == "close"
    assert int(missing.getheader("Content-Length")) == len(missing.body)  # type: ignore[attr-defined]


def test_head_204_304_never_carry_a_body_and_keep_the_connection(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    raw = server.raw(
        request("HEAD", "/") + request("GET", "/204") + request("GET", "/304") + request("GET", "/ok", CLOSE)
    )
    assert b"must not" not in raw
    responses = parse(raw, ["HEAD", "GET", "GET", "GET"])
    assert [(r.status, r.body) for r in responses] == [  # type: ignore[attr-defined]
        (200, b""), (204, b""), (304, b""), (200, b"ok")
    ]  # fmt: skip
    for response in responses[1:3]:
        assert response.getheader("Transfer-Encoding") is None
        assert response.getheader("Content-Length") is None


def test_no_content_length_is_chunked_for_http11_and_kept_alive(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    conn = server.connection()
    for _ in range(3):
        conn.request("GET", "/chunked")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == b"one two three"
        assert not response.will_close
    conn.close()


def test_no_content_length_is_close_delimited_for_http10_client(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode)
    for asks in (b"", b"Connection: keep-alive\r\n"):  # kept alive or not, only the close ends it
        raw = server.raw(b"GET /chunked HTTP/1.0\r\n" + asks + b"\r\nGET /ok HTTP/1.0\r\n\r\n")
        (response,) = parse(raw, ["GET"])
        assert response.getheader("Connection") == "close"
        assert response.getheader("Transfer-Encoding") is None
        assert response.body == b"one two three"  # type: ignore[attr-defined]


def test_http10_handler_answers_http10_and_closes(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Http10)
    raw = server.raw(request("GET", "/") + request("GET", "/"))
    assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
    assert raw.count(b"HTTP/1.0 200") == 1  # closed after the first, as the stdlib does
    assert raw.endswith(handlers.BODY)


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param(("/ok", CLOSE), id="client-connection-close"),
        pytest.param(("/close-header", b""), id="handler-connection-close-header"),
        pytest.param(("/close-attribute", b""), id="handler-close_connection"),
        pytest.param(("/close-socket", b""), id="handler-connection.close()"),
    ],
)
def test_last_response_of_a_connection(serve: Any, run_mode: str, ending: tuple[str, bytes]) -> None:
    """The response is whole, the connection closes after it, and a request pipelined
    behind it is never answered."""
    path, field = ending
    server = start(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request("GET", "/ok") + request("GET", path, field) + request("GET", "/ok"))
        raw = read_until_closed(sock, 5)
    first, last = parse(raw, ["GET", "GET"])
    assert (first.status, first.body, first.will_close) == (200, b"ok", False)  # type: ignore[attr-defined]
    assert (last.status, last.body) == (200, b"ok")  # type: ignore[attr-defined]
    if field or path == "/close-header":
        assert last.getheader("Connection") == "close"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"GET /keep-alive-flag HTTP/1.1\r\nHost: x\r\n\r\n", b"False"),
        (b"GET /keep-alive-flag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"True"),
        (b"GET /keep-alive-flag HTTP/1.0\r\n\r\n", b"True"),
        (b"GET /keep-alive-flag HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", b"False"),
    ],
    ids=["1.1", "1.1-close", "1.0", "1.0-keep-alive"],
)
def test_close_connection_is_set_by_the_stdlib_rules(
    serve: Any, run_mode: str, head: bytes, expected: bytes
) -> None:
    server = start(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head)
        response = http.client.HTTPResponse(sock, method="GET")
        response.begin()
        assert response.read() == expected


def test_handler_that_raises_before_writing_gets_500_and_others_are_served(
    serve: Any, run_mode: str, capsys: Any
) -> None:
    server = start(serve, run_mode)
    for path in ("/raise", "/raise-after-head"):
        raw = server.raw(request("GET", path) + request("GET", "/ok"))
        (response,) = parse(raw, ["GET"])  # closed after the 500: the request behind is not run
        assert response.status == 500
        assert response.getheader("Connection") == "close"
        assert b"boom" not in raw
    err = capsys.readouterr().err
    assert err.count("Exception occurred during processing") == 2, err
    assert "RuntimeError: boom before writing" in err and "RuntimeError: boom after the head" in err
    assert parse(server.raw(request("GET", "/ok", CLOSE)), ["GET"])[0].body == b"ok"  # type: ignore[attr-defined]


def test_handler_that_raises_after_its_head_went_out_is_cut_off(
    serve: Any, run_mode: str, capsys: Any
) -> None:
    server = start(serve, run_mode)
    raw = server.raw(request("GET", "/raise-late") + request("GET", "/ok"))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")  # too late for a 500: the connection is cut
    assert body == b"x" * LATE
    assert "RuntimeError: boom mid-body" in capsys.readouterr().err
    assert parse(server.raw(request("GET", "/ok", CLOSE)), ["GET"])[0].body == b"ok"  # type: ignore[attr-defined]


def test_handler_that_raises_after_a_little_body(serve: Any, run_mode: str, capsys: Any) -> None:
    """Inline and async, a small response is held back until the handler returns, so a
    failure still becomes a 500.  On a thread every write after the first goes out as the
    handler makes it (as on the stdlib's unbuffered ``wfile``): the 200 is out, and cut."""
    server = start(serve, run_mode)
    raw = server.raw(request("GET", "/raise-after-some-body") + request("GET", "/ok"))
    assert "RuntimeError: boom after some body" in capsys.readouterr().err
    if run_mode == "thread":
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\nContent-Length: 10")
        assert body == b"12345"
    else:
        (response,) = parse(raw, ["GET"])
        assert response.status == 500
        assert b"12345" not in raw


def test_send_error_pages(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.SendError)
    (missing,) = parse(server.raw(request("GET", "/missing")), ["GET"])
    assert (missing.status, missing.reason) == (404, "Nothing <here>")
    assert b"Really &amp; truly nothing" in missing.body  # type: ignore[attr-defined]
    assert missing.getheader("Connection") == "close"
    raw = server.raw(request("DELETE", "/") + request("DELETE", "/", CLOSE))
    assert [(r.status, r.body) for r in parse(raw, ["DELETE"])] == [(204, b"")]  # type: ignore[attr-defined]


def test_graceful_shutdown_closes_idle_connections_at_once(serve: Any, run_mode: str) -> None:
    server = start(serve, run_mode, config=ServerConfig(timeout_keep_alive=30))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request("GET", "/ok"))
        time.sleep(0.1)
        started = time.monotonic()
        server.server.shutdown()
        raw = read_until_closed(sock, 5)
        assert time.monotonic() - started < 3
    assert parse(raw, ["GET"])[0].body == b"ok"  # type: ignore[attr-defined]


PARITY = [
    (handlers.Hello, "GET", "/", None),
    (handlers.Hello, "HEAD", "/", None),
    (handlers.Hello, "PATCH", "/", None),  # no do_PATCH: 501
    (handlers.Echo, "POST", "/echo?x=1", b"some posted bytes"),
    (handlers.SendError, "GET", "/missing", None),
    (handlers.SendError, "DELETE", "/", None),
    (handlers.Http10, "GET", "/", None),
]


@pytest.mark.parametrize("run_mode", ["thread", "async"])  # inline: test_parity
@pytest.mark.parametrize(
    ("handler", "method", "path", "body"), PARITY, ids=[f"{c[0].__name__}-{c[1]}" for c in PARITY]
)
def test_same_answer_as_stdlib(
    parser: str, run_mode: str, handler: Any, method: str, path: str, body: bytes | None
) -> None:
    """The stdlib's server runs the plain class; ours its twin in this run mode."""
    from tests.test_parity import exchange

    expected = exchange(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler), method, path, body)
    served = handlers.for_mode(handler, run_mode)
    config = aiohttpbase.ServerConfig(parser=parser)
    actual = exchange(server_class_for(run_mode)(("127.0.0.1", 0), served, config=config), method, path, body)
    assert actual == expected
