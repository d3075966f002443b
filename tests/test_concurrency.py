"""Blocking handlers on threads, async handlers, the inline watchdog, backpressure."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import http.server
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import aiohttpbase
from aiohttpbase import ServerConfig, ThreadingHTTPServer
from tests import handlers
from tests.conftest import read_until_closed, recv_all, server_class_for

#: How long a slow handler sleeps: long enough that a fast request beside 32 of them is
#: clearly first even on a busy machine running the tests in two workers.
SLOW = 1.0


class Sleepy(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(SLOW)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    async def do_FAST(self) -> None:  # runs on the loop, needs no thread
        self.do_GET()


def timed_get(port: int, path: str) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    assert conn.getresponse().read() == b"ok"
    conn.close()
    return time.perf_counter() - start


@pytest.mark.parametrize(("threads", "fast_method"), [(33, "GET"), (32, "FAST")])
def test_blocking_handlers_run_on_threads_while_the_loop_serves_others(
    serve: Any, threads: int, fast_method: str
) -> None:
    """32 clients of a 1 s handler finish together; a fast request meanwhile is
    answered while they all still sleep -- on a spare thread, or, with every thread
    busy (later sync requests then wait, by design), by an ``async`` method on the loop."""
    server = serve(Sleepy, ThreadingHTTPServer, config=ServerConfig(threads=threads))

    def finished_at(method: str, path: str) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request(method, path)
        assert conn.getresponse().read() == b"ok"
        conn.close()
        return time.perf_counter()

    with ThreadPoolExecutor(40) as clients:
        start = time.perf_counter()
        slow = [clients.submit(finished_at, "GET", "/slow") for _ in range(32)]
        time.sleep(0.3)  # every slow request is in its handler by now
        fast_done = finished_at(fast_method, "/fast")
        slow_done = [f.result() for f in slow]
    total = max(slow_done) - start
    assert total < 3 * SLOW, f"32 concurrent {SLOW} s handlers took {total:.2f} s (32 s one by one)"
    assert fast_done < min(slow_done), "a fast request waited behind blocking handlers"


def test_inline_watchdog_names_a_slow_handler(serve: Any, caplog: Any) -> None:
    server = serve(Sleepy)
    with caplog.at_level(logging.WARNING, logger="aiohttpbase.error"):
        timed_get(server.port, "/slow")
        deadline = time.monotonic() + 2  # the server thread logs it; give it a moment
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Sleepy.do_GET held the event loop" in m and "ThreadingHTTPServer" in m for m in messages), (
        messages
    )


class UploadDigest(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    started = threading.Event()

    def do_POST(self) -> None:
        type(self).started.set()
        digest = hashlib.sha256()
        total = 0
        while True:
            piece = (
                self.rfile.read1(65536) if self.headers.get("Transfer-Encoding") else self.rfile.read(65536)
            )
            if not piece:
                break
            digest.update(piece)
            total += len(piece)
        self.answer(total, digest)

    def answer(self, total: int, digest: Any) -> None:
        answer = f"{total} {digest.hexdigest()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class AsyncUploadDigest(UploadDigest):
    async def do_POST(self) -> None:  # type: ignore[override]
        UploadDigest.started.set()
        digest = hashlib.sha256()
        total = 0
        while piece := await self.rfile.aread1(65536):
            digest.update(piece)
            total += len(piece)
        self.answer(total, digest)


def test_threaded_handler_streams_a_chunked_upload_intact(serve: Any) -> None:
    server = serve(UploadDigest, ThreadingHTTPServer)
    pieces = [bytes([i % 251]) * (100_000 + i) for i in range(80)]  # ~8 MiB
    expected = hashlib.sha256(b"".join(pieces)).hexdigest()
    conn = server.connection()
    conn.request("POST", "/", body=iter(pieces), encode_chunked=True)
    assert conn.getresponse().read().decode() == f"{sum(map(len, pieces))} {expected}"
    conn.close()


def test_threaded_handler_starts_before_the_upload_is_complete(serve: Any, run_mode: str) -> None:
    """Threaded and async handlers start once the head is in and read the body as it
    arrives; an inline one starts only once the whole body is buffered."""
    UploadDigest.started.clear()
    server = serve(AsyncUploadDigest if run_mode == "async" else UploadDigest, server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello")
        if run_mode == "inline":
            assert not UploadDigest.started.wait(0.3), "an inline handler ran before its body was in"
        else:
            assert UploadDigest.started.wait(5), "the handler waited for the whole body"
        sock.sendall(b"world")
        assert recv_all(sock).endswith(b"10 " + hashlib.sha256(b"helloworld").hexdigest().encode())


class BigWriter(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    written = 0
    error: BaseException | None = None
    total = 64 * 1024 * 1024

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(self.total))
        self.end_headers()
        type(self).written = 0
        try:
            for block in self.blocks():
                self.wfile.write(block)
                type(self).written += len(block)
        except OSError as exc:
            type(self).error = exc

    def blocks(self) -> Any:
        block = b"x" * 65536
        return (block for _ in range(self.total // len(block)))


class AsyncBigWriter(BigWriter):
    async def do_GET(self) -> None:  # type: ignore[override]
        self.send_response(200)
        self.send_header("Content-Length", str(self.total))
        self.end_headers()
        BigWriter.written = 0
        try:
            for block in self.blocks():
                self.wfile.write(block)
                await self.wfile.drain()  # what bounds an async handler's output
                BigWriter.written += len(block)
        except OSError as exc:
            BigWriter.error = exc


def big_writer_for(run_mode: str) -> type:
    BigWriter.written, BigWriter.error = 0, None
    # Inline, nothing slows the handler: all it writes is buffered at once; less of it.
    BigWriter.total = 8 * 1024 * 1024 if run_mode == "inline" else 64 * 1024 * 1024
    return AsyncBigWriter if run_mode == "async" else BigWriter


@pytest.mark.parametrize("run_mode", ["thread", "async"])  # an inline handler cannot be held back
def test_slow_reader_blocks_only_its_own_handler(serve: Any, run_mode: str) -> None:
    server = serve(big_writer_for(run_mode), server_class_for(run_mode))
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    stalled_at = BigWriter.written
    assert stalled_at < 16 * 1024 * 1024, f"handler wrote {stalled_at} bytes to a client that reads nothing"
    assert timed_get_other(server.port) < 0.5  # everyone else is served meanwhile
    received = 0
    while received < 64 * 1024 * 1024 + 40:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        received += len(chunk)
    sock.close()
    assert received > 64 * 1024 * 1024
    assert BigWriter.written == 64 * 1024 * 1024


def timed_get_other(port: int) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("HEAD", "/other")
    conn.getresponse().read()
    conn.close()
    return time.perf_counter() - start


def test_client_leaving_mid_response_raises_in_the_handler_and_server_goes_on(
    serve: Any, run_mode: str
) -> None:
    """On a thread the blocked write raises, in an async handler ``drain()`` does; an
    inline handler has written everything into the server's buffer before the client
    could leave, and never hears of it."""
    server = serve(big_writer_for(run_mode), server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1000)
    if run_mode == "inline":
        deadline = time.monotonic() + 5  # the handler may still be writing when the client has gone
        while BigWriter.written < BigWriter.total and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (BigWriter.error, BigWriter.written) == (None, BigWriter.total)
    else:
        deadline = time.monotonic() + 5
        while BigWriter.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert isinstance(BigWriter.error, (BrokenPipeError, ConnectionResetError))
    assert timed_get_other(server.port) < 1


class AsyncHandler(aiohttpbase.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    async def do_GET(self) -> None:
        await asyncio.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"async")
        await self.wfile.drain()

    async def do_POST(self) -> None:
        digest = hashlib.sha256()
        while piece := await self.rfile.aread1(65536):
            digest.update(piece)
        answer = digest.hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_PUT(self) -> None:  # a plain method beside the async ones
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_async_handlers_run_concurrently_on_the_loop(serve: Any) -> None:
    server = serve(AsyncHandler)

    def get() -> bytes:
        conn = server.connection()
        conn.request("GET", "/")
        data = conn.getresponse().read()
        conn.close()
        return data

    start = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: get(), range(50)))
    assert results == [b"async"] * 50
    assert time.perf_counter() - start < 0.9  # 50 x 200 ms, concurrently


def test_async_handler_streams_the_body_and_sync_methods_mix(serve: Any) -> None:
    server = serve(AsyncHandler)
    data = bytes(range(256)) * 20000
    conn = server.connection()
    conn.request("POST", "/", body=data)
    assert conn.getresponse().read() == hashlib.sha256(data).hexdigest().encode()
    conn.request("PUT", "/", body=b"plain")
    assert conn.getresponse().read() == b"plain"
    conn.close()


def test_queue_limit_answers_503_when_every_thread_is_busy(serve: Any) -> None:
    server = serve(Sleepy, ThreadingHTTPServer, config=ServerConfig(threads=1, max_queued_requests=1))

    def status(path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", path)
        code = conn.getresponse().status
        conn.close()
        return code

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(status, "/slow")
        time.sleep(0.05)  # running on the only thread
        second = pool.submit(status, "/slow")
        time.sleep(0.05)  # waiting in the queue
        third = pool.submit(status, "/slow")
        assert third.result() == 503
        assert first.result() == 200 and second.result() == 200


class Pipelined(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(1.0)
        self.answer()

    def answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class AsyncPipelined(Pipelined):
    async def do_GET(self) -> None:  # type: ignore[override]
        await asyncio.sleep(1.0)
        self.answer()


@pytest.mark.parametrize("run_mode", ["thread", "async"])  # inline, the loop itself is held
def test_pipelined_bytes_behind_a_running_handler_are_bounded(serve: Any, run_mode: str) -> None:
    """While a threaded or async handler runs, the server stops reading: the client's sends block."""
    server = serve(AsyncPipelined if run_mode == "async" else Pipelined, server_class_for(run_mode))
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.sendall(request)
        time.sleep(0.1)
        sock.setblocking(False)
        pushed = 0
        deadline = time.monotonic() + 0.7
        chunk = request * 1000
        while time.monotonic() < deadline:
            try:
                pushed += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        # Kernel buffers on both sides hold a few MiB at most; the server read no more
        # than its high-water mark beyond them.
        assert pushed < 16 * 1024 * 1024, f"the server swallowed {pushed} pipelined bytes"


class TimesOut(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.2  # StreamRequestHandler.timeout: per read
    logged: list[str] = []

    def log_error(self, format: str, *args: Any) -> None:
        type(self).logged.append(format % args)

    def do_POST(self) -> None:
        self.rfile.read(100)


class AsyncTimesOut(TimesOut):
    async def do_POST(self) -> None:  # type: ignore[override]
        await self.rfile.aread(100)


def test_handler_timeout_is_logged_as_the_stdlib_does(serve: Any, run_mode: str) -> None:
    """A read that waits longer than the handler's ``timeout`` raises, is logged and ends
    the connection; inline, the handler never waits (it runs once the body is in), and a
    body that stops coming gets the server's 408 instead."""
    TimesOut.logged = []
    server = serve(
        AsyncTimesOut if run_mode == "async" else TimesOut,
        server_class_for(run_mode),
        config=ServerConfig(timeout_body=0.5),
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        answer = read_until_closed(sock, 5)
    if run_mode == "inline":
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert not any(line.startswith("Request timed out") for line in TimesOut.logged)
    else:
        assert answer == b""  # closed, as the stdlib closes after a timeout
        assert TimesOut.logged and TimesOut.logged[0].startswith("Request timed out: TimeoutError(")
