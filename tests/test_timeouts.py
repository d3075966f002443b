"""Read and send deadlines: slowloris in three shapes, idle keep-alive, clients that never read."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from aiohttpbase import ServerConfig
from tests import handlers
from tests.conftest import recv_all, server_class_for

FAST = ServerConfig(timeout_header=0.5, timeout_keep_alive=0.3, timeout_body=0.5, timeout_send=0.5)


def read_until_closed(sock: socket.socket, limit: float = 5) -> tuple[bytes, float]:
    start = time.monotonic()
    sock.settimeout(limit)
    data = recv_all(sock)
    return data, time.monotonic() - start


def _slow_lines() -> list[bytes]:
    return [b"GET / HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % i for i in range(100)]


def _slow_bytes() -> list[bytes]:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
    return [head[i : i + 1] for i in range(len(head))]


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param(list, id="idle-after-connect"),
        pytest.param(_slow_lines, id="one-header-line-at-a-time"),
        pytest.param(_slow_bytes, id="one-byte-at-a-time"),
    ],
)
def test_slowloris_head_deadline_is_not_extended_by_dribbled_bytes(serve: Any, pieces: Any) -> None:
    server = serve(handlers.Hello, config=FAST)
    data = b""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.settimeout(0.05)
        start = time.monotonic()
        closed = False
        for piece in pieces() or [None] * 100:
            if piece is not None:
                try:
                    sock.sendall(piece)
                except OSError:
                    closed = True
                    break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
                break
            data += chunk
            if not chunk:
                closed = True
                break
        elapsed = time.monotonic() - start
    assert closed, "the connection outlived the dribble"
    assert elapsed < 1.5, f"the connection lived {elapsed:.1f} s past a 0.5 s head deadline"
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:100]


def test_partial_head_gets_408(serve: Any) -> None:
    server = serve(handlers.Hello, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        data, elapsed = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in data
    assert 0.3 < elapsed < 2


def test_partial_head_after_a_response_gets_408(serve: Any, run_mode: str) -> None:
    """The head deadline starts again when each response ends, however the handler ran."""
    server = handlers.serve_in(serve, run_mode, handlers.Hello, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n")
        data, elapsed = read_until_closed(sock)
    first, _, second = data.partition(handlers.BODY)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.startswith(b"HTTP/1.1 408 ")
    assert 0.3 < elapsed < 2.5


def test_idle_keep_alive_connection_is_closed(serve: Any, run_mode: str) -> None:
    server = handlers.serve_in(serve, run_mode, handlers.Hello, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, elapsed = read_until_closed(sock)
    assert data.endswith(handlers.BODY)
    assert data.count(b"HTTP/1.1 ") == 1
    assert 0.2 < elapsed < 2


def test_stalled_body_gets_408(serve: Any, run_mode: str) -> None:
    """Inline, the handler has not run: the server answers 408.  On a thread or as a task
    the handler is reading the body: its read raises ``TimeoutError`` and, as in the
    stdlib, the connection ends unanswered."""
    server = handlers.serve_in(serve, run_mode, handlers.Echo, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        data, elapsed = read_until_closed(sock)
    if run_mode == "inline":
        assert data.startswith(b"HTTP/1.1 408 ")
        assert b"Connection: close" in data.partition(b"\r\n\r\n")[0]
    else:
        assert data == b""
    assert elapsed < 2


def test_stalled_body_after_100_continue_gets_408(serve: Any, run_mode: str, request: Any) -> None:
    """``100 Continue`` is an interim answer: the response has not begun, so a chunked
    body that then stalls gets 408 where it is read whole before the handler runs (inline,
    and on a thread by default); an async handler streaming it sees its read raise."""
    server = handlers.serve_in(serve, run_mode, handlers.Echo, config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.settimeout(3)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"3\r\nabc\r\n")
        data, elapsed = read_until_closed(sock)
    assert elapsed < 2
    if run_mode == "async":
        assert data == b""
    else:
        assert data.startswith(b"HTTP/1.1 408 "), data[:100]


def test_stalled_body_after_an_early_answer_gets_no_second_response(
    serve: Any, run_mode: str, request: Any
) -> None:
    """A handler answered without reading the body, and the rest of the body never comes.
    Inline the handler never ran: 408.  Otherwise one answer too -- its own (on a thread it
    is out at once) or the 408 -- never both; then the connection closes."""
    server = serve(
        handlers.AsyncEarly if run_mode == "async" else handlers.Early,
        server_class_for(run_mode),
        config=FAST,
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        data, elapsed = read_until_closed(sock)
    assert elapsed < 2
    if run_mode == "inline":
        assert data.startswith(b"HTTP/1.1 408 ")
        assert data.count(b"HTTP/1.1 ") == 1
    else:
        assert data.count(b"HTTP/1.1 ") == 1, data
        assert data.startswith((b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 408 "))


def test_client_that_never_reads_is_dropped_and_others_are_served(
    serve: Any, run_mode: str, request: Any
) -> None:
    """After ``timeout_send`` the connection is dropped.  A threaded handler blocked in
    ``wfile.write``, or an async one in ``drain()``, learns it by an ``OSError``; an inline
    handler wrote into the server's buffer and was done long before."""
    from tests.test_concurrency import BigWriter, big_writer_for, timed_get_other

    server = serve(big_writer_for(run_mode), server_class_for(run_mode), config=FAST)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        if run_mode == "inline":
            time.sleep(1.5)  # timeout_send (0.5 s) and a few sweeps
            assert BigWriter.error is None and BigWriter.written == BigWriter.total
            received = read_all_until_dropped(sock)
            assert received < BigWriter.total, "the server kept the response for a client that read nothing"
        else:
            deadline = time.monotonic() + 5
            while BigWriter.error is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert isinstance(BigWriter.error, OSError)  # the handler learned the client is gone
    assert timed_get_other(server.port) < 1


def read_all_until_dropped(sock: socket.socket) -> int:
    """Bytes received until the server's close (or reset) of a connection."""
    received = 0
    sock.settimeout(5)
    try:
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    except ConnectionResetError:
        pass
    return received
