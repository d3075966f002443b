"""The stdlib server calling convention: construction, serve_forever, handle_request, hooks."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from typing import Any

import pytest

import aiohttpbase
from tests import handlers
from tests.conftest import read_until_closed, server_class_for


def fetch(port: int, host: str = "127.0.0.1", path: str = "/") -> bytes:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return body


def test_port_zero_is_resolved_at_construction() -> None:
    with aiohttpbase.HTTPServer(("127.0.0.1", 0), handlers.Hello) as server:
        port = server.socket.getsockname()[1]
        assert port != 0
        assert server.server_address == ("127.0.0.1", port)
        assert server.server_port == port
        assert isinstance(server.server_name, str) and server.server_name
        assert server.fileno() == server.socket.fileno()
        assert server.RequestHandlerClass is handlers.Hello
        assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)


def test_bind_and_activate_false_defers_binding() -> None:
    server = aiohttpbase.HTTPServer(("127.0.0.1", 0), handlers.Hello, bind_and_activate=False)
    server.server_bind()
    server.server_activate()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert fetch(server.server_port) == handlers.BODY
    finally:
        server.shutdown()
        server.server_close()


def test_ipv6(serve: Any) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")

    class V6(aiohttpbase.HTTPServer):
        address_family = socket.AF_INET6

    try:
        server = serve(handlers.Hello, V6, address=("::1", 0))
    except OSError as exc:
        pytest.skip(f"::1 unavailable: {exc}")
    assert fetch(server.port, "::1") == handlers.BODY


def test_shutdown_from_another_thread_and_serve_again(run_mode: str) -> None:
    server = server_class_for(run_mode)(("127.0.0.1", 0), handlers.for_mode(handlers.Hello, run_mode))
    for _ in range(2):
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        assert fetch(server.server_port) == handlers.BODY
        server.shutdown()
        thread.join(5)
        assert not thread.is_alive()
    server.server_close()


def test_service_actions_called_while_serving() -> None:
    calls = []

    class Counting(aiohttpbase.HTTPServer):
        def service_actions(self) -> None:
            calls.append(time.monotonic())

    server = Counting(("127.0.0.1", 0), handlers.Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    time.sleep(0.3)
    server.shutdown()
    thread.join(5)
    server.server_close()
    assert len(calls) >= 3


def test_handle_request_serves_exactly_one_request_per_call(run_mode: str) -> None:
    server = server_class_for(run_mode)(("127.0.0.1", 0), handlers.for_mode(handlers.Hello, run_mode))
    server.timeout = 5
    results: list[bytes] = []
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)

    def client() -> None:
        for _ in range(3):
            conn.request("GET", "/")
            results.append(conn.getresponse().read())

    thread = threading.Thread(target=client)
    thread.start()
    for n in range(1, 4):
        server.handle_request()
        deadline = time.monotonic() + 5
        while len(results) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(results) == n  # one call, one request: keep-alive across calls
    thread.join(5)
    conn.close()
    server.server_close()
    assert results == [handlers.BODY] * 3


def test_handle_request_timeout_calls_handle_timeout() -> None:
    timeouts = []

    class WithTimeout(aiohttpbase.HTTPServer):
        timeout = 0.1

        def handle_timeout(self) -> None:
            timeouts.append(True)

    with WithTimeout(("127.0.0.1", 0), handlers.Hello) as server:
        start = time.monotonic()
        server.handle_request()
        assert timeouts == [True]
        assert 0.05 < time.monotonic() - start < 2


def test_verify_request_false_closes_unanswered(serve: Any) -> None:
    class Picky(aiohttpbase.HTTPServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            return False

    server = serve(handlers.Hello, Picky)
    try:
        answer = server.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    except ConnectionResetError:
        answer = b""  # closed with the request unread: the kernel may send RST
    assert answer == b""


def test_handle_error_receives_handler_exceptions(serve: Any, run_mode: str) -> None:
    seen = []

    class Recording(server_class_for(run_mode)):  # type: ignore[misc]
        def handle_error(self, request: Any, client_address: Any) -> None:
            import sys

            seen.append((sys.exc_info()[0], client_address[0]))

    class Boom(handlers.Hello):
        def do_GET(self) -> None:
            raise KeyError("x")

    class AsyncBoom(handlers.Hello):
        async def do_GET(self) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            raise KeyError("x")

    server = serve(AsyncBoom if run_mode == "async" else Boom, Recording)
    assert server.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 500")
    assert seen == [(KeyError, "127.0.0.1")]


def test_serve_forever_in_a_non_main_thread_and_many_idle_connections(serve: Any) -> None:
    server = serve(handlers.Hello)
    idle = [socket.create_connection((server.host, server.port), timeout=5) for _ in range(300)]
    try:
        assert fetch(server.port) == handlers.BODY
    finally:
        for sock in idle:
            sock.close()


def test_async_serve_on_a_running_loop(run_mode: str) -> None:
    async def main() -> bytes:
        server = server_class_for(run_mode)(("127.0.0.1", 0), handlers.for_mode(handlers.Hello, run_mode))
        task = asyncio.create_task(server.serve())
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.server_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await reader.read()
        writer.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        server.server_close()
        return data

    assert asyncio.run(main()).endswith(handlers.BODY)


def test_shutdown_lets_in_flight_request_finish(serve: Any, run_mode: str) -> None:
    """The body is half-sent when the shutdown starts: inline, the handler has not run yet;
    on a thread or as a task it is waiting in its read.  The request is answered whole,
    then the connection closes."""
    server = handlers.serve_in(serve, run_mode, handlers.Echo)
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
    time.sleep(0.1)
    stopper = threading.Thread(target=server.server.shutdown)
    stopper.start()
    time.sleep(0.1)
    sock.sendall(b"cd")
    data = read_until_closed(sock, 5)
    stopper.join(5)
    sock.close()
    assert not stopper.is_alive()
    assert data.endswith(b"\r\n\r\nabcd")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


class Slow(handlers.Quiet, aiohttpbase.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(0.3)  # inline, this holds the loop: the shutdown waits its turn
        self.answer()

    def answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"done")


class AsyncSlow(Slow):
    async def do_GET(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0.3)
        self.answer()


def test_shutdown_lets_a_running_handler_finish(serve: Any, run_mode: str) -> None:
    server = serve(AsyncSlow if run_mode == "async" else Slow, server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)  # the handler is running
        stopper = threading.Thread(target=server.server.shutdown)
        stopper.start()
        data = read_until_closed(sock, 5)  # answered, then closed: no keep-alive past a shutdown
    stopper.join(5)
    assert not stopper.is_alive()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\ndone")
