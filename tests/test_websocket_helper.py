"""``aiohttpbase.websocket``: ``accept`` (``async def`` handlers) and ``accept_sync`` (``def``
handlers on a thread), driven by the ``websockets`` client library and by raw sockets, on
every parser and run mode: ``async`` runs ``AsyncSocket`` on ``HTTPServer``, ``thread``
runs ``SyncSocket`` on ``ThreadingHTTPServer``, ``inline`` runs ``SyncSocket`` on
``HTTPServer`` (which serves upgrade requests on a thread).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import http.server
import os
import queue
import socket
import ssl
import struct
import threading
import time
from typing import Any

import pytest

pytest.importorskip("wsproto")

from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed as ClientClosed
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from aiohttpbase import BaseHTTPRequestHandler, HTTPSServer, ServerConfig, ThreadingHTTPSServer
from aiohttpbase.websocket import accept, accept_sync, is_websocket_request

from .conftest import read_until_closed, server_class_for

LIMIT = 1 << 20
SUBPROTOCOLS = ("chat.v2", "chat.v1")

#: What handlers saw at the end of a WebSocket: (path, close_code, close_reason, subprotocol).
ended: queue.Queue[tuple[str, int | None, str, str | None]] = queue.Queue()


class AsyncSocket(BaseHTTPRequestHandler):
    """WebSocket endpoints for ``async def`` handlers, one behaviour per path."""

    protocol_version = "HTTP/1.1"
    close_timeout = 5.0

    def log_message(self, *args: Any) -> None:
        pass

    async def do_GET(self) -> None:
        if self.path == "/page" and not is_websocket_request(self):
            body = b"not a socket"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        ws = await accept(
            self, subprotocols=SUBPROTOCOLS, max_message_size=LIMIT, close_timeout=self.close_timeout
        )
        if ws is None:
            return
        try:
            async with ws:
                if self.path == "/ping":
                    pong = await ws.ping(b"server ping")
                    await ws.send("pinged")
                    assert await ws.receive() == "go"  # the pong arrived before it
                    done = pong.done()
                    assert await pong >= 0  # the round trip in seconds
                    await ws.send(f"pong {done}")
                elif self.path == "/timeout":
                    try:
                        await asyncio.wait_for(ws.receive(), 0.3)
                    except asyncio.TimeoutError:
                        await ws.send("timed out")
                    await ws.send(await ws.receive())  # nothing was lost by the cancellation
                elif self.path == "/fail":
                    await ws.receive()
                    raise RuntimeError("the handler failed")
                elif self.path == "/push":
                    for i in range(3):
                        await ws.send(f"push {i}")
                    await ws.close(1001, "going away")
                else:
                    async for message in ws:
                        if message == "close-please":
                            await ws.close(4000, "bye")
                        elif message == "subprotocol?":
                            await ws.send(str(ws.subprotocol))
                        else:
                            await ws.send(message)
        finally:
            ended.put((self.path, ws.close_code, ws.close_reason, ws.subprotocol))


class SyncSocket(BaseHTTPRequestHandler):
    """The same endpoints for ``def`` handlers with ``accept_sync``."""

    protocol_version = "HTTP/1.1"
    close_timeout = 5.0

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/page" and not is_websocket_request(self):
            body = b"not a socket"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        ws = accept_sync(
            self, subprotocols=SUBPROTOCOLS, max_message_size=LIMIT, close_timeout=self.close_timeout
        )
        if ws is None:
            return
        try:
            with ws:
                if self.path == "/ping":
                    pong = ws.ping(b"server ping")
                    ws.send("pinged")
                    assert ws.receive() == "go"
                    ws.send(f"pong {pong.is_set()}")
                elif self.path == "/fail":
                    ws.receive()
                    raise RuntimeError("the handler failed")
                elif self.path == "/push":
                    for i in range(3):
                        ws.send(f"push {i}")
                    ws.close(1001, "going away")
                else:
                    for message in ws:
                        if message == "close-please":
                            ws.close(4000, "bye")
                        elif message == "subprotocol?":
                            ws.send(str(ws.subprotocol))
                        else:
                            ws.send(message)
        finally:
            ended.put((self.path, ws.close_code, ws.close_reason, ws.subprotocol))


class StdlibSyncSocket(SyncSocket, http.server.BaseHTTPRequestHandler):
    pass


def socket_server(serve: Any, run_mode: str, **kwargs: Any) -> Any:
    handler = AsyncSocket if run_mode == "async" else SyncSocket
    return serve(handler, server_class_for(run_mode), **kwargs)


def url(server: Any, path: str = "/echo") -> str:
    return f"ws://{server.host}:{server.port}{path}"


def client(server: Any, path: str = "/echo", **kwargs: Any) -> Any:
    kwargs.setdefault("max_size", None)
    return connect(
        url(server, path), open_timeout=10, close_timeout=10, proxy=None, compression=None, **kwargs
    )


def last_end(timeout: float = 10) -> tuple[str, int | None, str, str | None]:
    return ended.get(timeout=timeout)


@pytest.fixture(autouse=True)
def fresh_record() -> None:
    while not ended.empty():
        ended.get_nowait()


# -- messages ------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_echo_text_and_binary(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    big = os.urandom(LIMIT)  # exactly the limit is allowed
    with client(server) as ws:
        for text in ("hello", "é€😀" * 1000, ""):
            ws.send(text)
            assert ws.recv(timeout=10) == text
        for data in (b"\x00\xff", b"", big):
            ws.send(data)
            assert ws.recv(timeout=10) == data
        # Fragmented messages arrive whole.
        ws.send(["frag", "mented ", "text"])
        assert ws.recv(timeout=10) == "fragmented text"
        ws.send([big[:1000], big[1000:300_000]])
        assert ws.recv(timeout=10) == big[:300_000]
    assert last_end()[1] == 1000


@pytest.mark.timeout(30)
def test_compression_offer_is_declined(serve: Any, run_mode: str) -> None:
    """The client's default offer of permessage-deflate is not taken up."""
    server = socket_server(serve, run_mode)
    with connect(url(server), open_timeout=10, proxy=None) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv(timeout=10) == "plain"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fragments", [1, 8], ids=["one-frame", "fragmented"])
def test_message_over_the_limit_closes_with_1009(serve: Any, run_mode: str, fragments: int) -> None:
    server = socket_server(serve, run_mode)
    message = os.urandom(2 * LIMIT)
    piece = len(message) // fragments
    with client(server) as ws:
        ws.send("before")
        assert ws.recv(timeout=10) == "before"
        with pytest.raises(ClientClosed) as closed:
            # (Sending fragments, the client may see the close before its last one.)
            ws.send(
                message if fragments == 1 else [message[i : i + piece] for i in range(0, len(message), piece)]
            )
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert closed.value.sent is not None and closed.value.sent.code == 1009  # the client answered
    assert last_end()[1] == 1009
    with client(server) as ws:  # and the server goes on
        ws.send("after")
        assert ws.recv(timeout=10) == "after"


# -- control frames and closing ------------------------------------------------------------


@pytest.mark.timeout(30)
def test_client_ping_is_answered(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    with client(server) as ws:
        for _ in range(3):
            assert ws.ping(b"client ping").wait(10)
        ws.send("still there")
        assert ws.recv(timeout=10) == "still there"


@pytest.mark.timeout(30)
def test_server_ping_gets_its_pong(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    with client(server, "/ping") as ws:
        assert ws.recv(timeout=10) == "pinged"
        ws.send("go")
        assert ws.recv(timeout=10).startswith("pong True")


@pytest.mark.timeout(30)
def test_client_initiated_close(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    with client(server) as ws:
        ws.send("hi")
        assert ws.recv(timeout=10) == "hi"
        ws.close(4001, "client done")
        assert ws.close_code == 4001 and ws.close_reason == "client done"  # the server answered
    path, code, reason, _ = last_end()
    assert (path, code, reason) == ("/echo", 4001, "client done")


@pytest.mark.timeout(30)
def test_server_initiated_close(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    with client(server) as ws:
        ws.send("close-please")
        with pytest.raises(ClientClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4000,
        "bye",
    )
    assert closed.value.sent is not None and closed.value.sent.code == 4000  # handshake complete
    assert last_end()[1:3] == (4000, "bye")


@pytest.mark.timeout(30)
def test_server_push_then_close(serve: Any, run_mode: str) -> None:
    """A handler that only sends: its close() waits for the client's answer."""
    server = socket_server(serve, run_mode)
    with client(server, "/push") as ws:
        assert [ws.recv(timeout=10) for _ in range(3)] == ["push 0", "push 1", "push 2"]
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=10)
        assert ws.close_code == 1001 and ws.close_reason == "going away"
    assert last_end()[1:3] == (1001, "going away")


@pytest.mark.timeout(30)
def test_close_gives_up_on_a_client_that_does_not_answer(serve: Any, run_mode: str) -> None:
    """The server's close waits close_timeout for the client's close frame, then ends."""
    base = AsyncSocket if run_mode == "async" else SyncSocket
    handler = type("Impatient", (base,), {"close_timeout": 0.5})
    server = serve(handler, server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(handshake() + client_frame(1, b"close-please"))
        read_head(sock)
        started = time.monotonic()
        frames = server_frames(read_until_closed(sock, 10))  # we never answer its close
        waited = time.monotonic() - started
    assert frames == [(8, struct.pack("!H", 4000) + b"bye")]
    assert 0.4 < waited < 5
    assert last_end()[1:3] == (4000, "bye")


@pytest.mark.timeout(30)
def test_handler_exception_closes_with_1011(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    server.server.handle_error = lambda *args: None  # expected: keep the output quiet
    with client(server, "/fail") as ws:
        ws.send("boom")
        with pytest.raises(ClientClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


@pytest.mark.timeout(30)
def test_client_vanishing_ends_the_handler_with_1006(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(handshake())
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
    code = last_end()[1]
    assert code == 1006 and type(code) is int  # (not wsproto's CloseReason)


# -- subprotocols and refusals -------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("offer", "chosen"),
    [(["chat.v1", "chat.v2"], "chat.v2"), (["chat.v1"], "chat.v1"), (["other"], None), (None, None)],
)
def test_subprotocol_negotiation(
    serve: Any, run_mode: str, offer: list[str] | None, chosen: str | None
) -> None:
    server = socket_server(serve, run_mode)
    with client(server, subprotocols=offer) as ws:
        assert ws.subprotocol == chosen
        ws.send("subprotocol?")
        assert ws.recv(timeout=10) == str(chosen)


def test_plain_get_is_refused_with_426_and_keep_alive(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    conn = server.connection()
    for _ in range(2):  # the connection stays usable
        conn.request("GET", "/echo")
        response = conn.getresponse()
        assert response.status == 426
        assert response.getheader("Upgrade") == "websocket"
        assert b"WebSocket" in response.read()
    conn.request("GET", "/page")  # a handler can serve other requests itself
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"not a socket")
    conn.close()


KEY = base64.b64encode(b"0123456789abcdef").decode()


def handshake(path: str = "/echo", version: str = "HTTP/1.1", **fields: str) -> bytes:
    headers = {
        "Host": "x",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    for name, value in fields.items():
        name = name.replace("_", "-")
        if value:
            headers[name] = value
        else:
            headers.pop(name)
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"GET {path} {version}\r\n{lines}\r\n".encode()


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"Sec_WebSocket_Version": "8"}, 426, b"Sec-WebSocket-Version: 13"),
        ({"Sec_WebSocket_Version": ""}, 400, b""),
        ({"Sec_WebSocket_Key": ""}, 400, b""),
        ({"Sec_WebSocket_Key": "c2hvcnQ="}, 400, b""),
        ({"Upgrade": "h2c"}, 426, b"Upgrade: websocket"),
        ({"Connection": "keep-alive", "Upgrade": ""}, 426, b"Upgrade: websocket"),
    ],
    ids=["old-version", "no-version", "no-key", "short-key", "other-protocol", "no-upgrade"],
)
def test_bad_handshakes_are_refused(
    serve: Any, run_mode: str, fields: dict[str, str], status: int, field: bytes
) -> None:
    server = socket_server(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(handshake(**fields))
        head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert field in head
    assert ended.empty()


def test_http10_handshake_is_refused(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    answer = server.raw(handshake(version="HTTP/1.0"))
    assert answer.startswith(b"HTTP/1.1 400 ")


# -- raw frames ----------------------------------------------------------------------------


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        assert chunk, f"closed inside the head: {data!r}"
        data += chunk
    return data


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = b"\x0f\x1e\x2d\x3c"
    n = len(payload)
    length = struct.pack("!B", 0x80 | n) if n < 126 else struct.pack("!BH", 0x80 | 126, n)
    return (
        struct.pack("!B", (0x80 if fin else 0) | opcode)
        + length
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while data:
        opcode, n = data[0] & 0x0F, data[1] & 0x7F
        start = 2
        if n == 126:
            (n,) = struct.unpack("!H", data[2:4])
            start = 4
        frames.append((opcode, data[start : start + n]))
        data = data[start + n :]
    return frames


@pytest.mark.timeout(30)
def test_frames_sent_with_the_handshake_are_read_first(serve: Any, run_mode: str) -> None:
    server = socket_server(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            handshake()
            + client_frame(1, b"early", fin=False)
            + client_frame(9, b"ping in between")
            + client_frame(0, b" bird")
            + client_frame(8, b"\x03\xe8")
        )
        head = read_head(sock)
        frames = server_frames(read_until_closed(sock, 10))
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert frames == [(10, b"ping in between"), (1, b"early bird"), (8, b"\x03\xe8")]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(1, b"\xff\xfe"), 1007),  # not UTF-8
        (client_frame(0, b"no message to continue"), 1002),
        (client_frame(9, b"x" * 200), 1002),  # control frame too long
    ],
    ids=["bad-utf8", "stray-continuation", "long-ping"],
)
def test_protocol_errors_close_the_connection(serve: Any, run_mode: str, frame: bytes, code: int) -> None:
    server = socket_server(serve, run_mode)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(handshake() + frame)
        read_head(sock)
        frames = server_frames(read_until_closed(sock, 10))
    assert frames[-1][0] == 8 and struct.unpack("!H", frames[-1][1][:2])[0] == code
    assert last_end()[1] == code


# -- concurrency ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_many_concurrent_clients(serve: Any, run_mode: str) -> None:
    """200 WebSockets at once on async handlers; 50 on threads (one thread each)."""
    server = socket_server(serve, run_mode, config=ServerConfig(threads=64))
    clients = 200 if run_mode == "async" else 50

    async def everyone() -> list[list[Any]]:
        connected = 0
        all_in = asyncio.Event()

        async def one(i: int) -> list[Any]:
            nonlocal connected
            async with async_connect(url(server), open_timeout=20, proxy=None, compression=None) as ws:
                connected += 1
                if connected == clients:
                    all_in.set()
                await all_in.wait()  # every WebSocket is open before the first message
                answers: list[Any] = []
                for j in range(5):
                    await ws.send(f"client {i} message {j}")
                    answers.append(await ws.recv())
                await ws.send(os.urandom(1000) * 10)
                answers.append(len(await ws.recv()))
                return answers

        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(clients))), 45)

    results = asyncio.run(everyone())
    for i, answers in enumerate(results):
        assert answers == [f"client {i} message {j}" for j in range(5)] + [10000]
    codes = [last_end()[1] for _ in range(clients)]
    assert codes == [1000] * clients


@pytest.mark.timeout(30)
def test_send_while_another_task_receives(serve: Any, parser: str) -> None:
    """One task receives while another pushes a lot: sends are serialised, so their
    drains never overlap, and flow control holds."""

    class Duplex(AsyncSocket):
        async def do_GET(self) -> None:
            ws = await accept(self)
            assert ws is not None

            async def pusher() -> None:
                for _ in range(3):
                    await ws.send(b"p" * 1_000_000)

            async with ws:
                pushers = [asyncio.ensure_future(pusher()) for _ in range(3)]
                message = await ws.receive()
                await asyncio.gather(*pushers)
                await ws.send(message)

    server = serve(Duplex)
    with client(server) as ws:
        ws.send("after the pushes")
        time.sleep(0.5)  # the pushers block on drain() while nobody reads
        sizes = [len(ws.recv(timeout=10)) for _ in range(9)]
        assert sizes == [1_000_000] * 9
        assert ws.recv(timeout=10) == "after the pushes"


@pytest.mark.timeout(30)
def test_receive_can_be_cancelled_without_losing_data(serve: Any) -> None:
    server = serve(AsyncSocket)
    with client(server, "/timeout") as ws:
        assert ws.recv(timeout=10) == "timed out"
        ws.send(["late ", "but whole"])
        assert ws.recv(timeout=10) == "late but whole"


@pytest.mark.timeout(30)
def test_access_line_says_101(serve: Any, run_mode: str) -> None:
    lines: list[str] = []

    class Logged(AsyncSocket if run_mode == "async" else SyncSocket):  # type: ignore[misc]
        def log_message(self, format: str, *args: Any) -> None:
            lines.append(format % args)

    server = serve(Logged, server_class_for(run_mode))
    with client(server) as ws:
        ws.send("logged")
        assert ws.recv(timeout=10) == "logged"
    last_end()
    deadline = time.monotonic() + 5
    while not lines and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(lines) == 1 and '"GET /echo HTTP/1.1" 101 ' in lines[0]


@pytest.mark.timeout(30)
def test_over_tls(serve: Any, run_mode: str, certificate: tuple[Any, Any]) -> None:
    cert, key = certificate
    server_class = {"async": HTTPSServer, "inline": HTTPSServer, "thread": ThreadingHTTPSServer}[run_mode]
    handler = AsyncSocket if run_mode == "async" else SyncSocket
    server = serve(handler, server_class, certfile=str(cert), keyfile=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    target = f"wss://127.0.0.1:{server.port}/echo"
    big = os.urandom(500_000)

    # websockets' asyncio client: its threading client, whose reader thread receives on the
    # TLS socket while the caller sends, now and then never sends its upgrade request (1
    # connection in 100 to 300 on a loaded 2-core machine, against websockets' own server
    # too; the client's TCP counters show only the TLS handshake sent).
    async def exchange() -> None:
        async with async_connect(target, ssl=context, open_timeout=10, proxy=None, max_size=None) as ws:
            await ws.send("secret")
            assert await asyncio.wait_for(ws.recv(), 10) == "secret"
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), 10) == big
            await asyncio.wait_for(await ws.ping(), 10)
        # Python 3.10's TLS transport is left unclosed (a ResourceWarning) when the server
        # ends the connection, as it does after the closing handshake; 3.11's is not.
        ws.transport.close()

    asyncio.run(exchange())
    assert last_end()[1] == 1000


class FilesAndSocket(http.server.SimpleHTTPRequestHandler):
    """A stdlib file server with a WebSocket on one path: served in replay mode (it has its
    own ``__init__``), on a thread."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if not is_websocket_request(self):
            super().do_GET()
            return
        ws = accept_sync(self)
        assert ws is not None
        with ws:
            for message in ws:
                ws.send(message)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("run_mode", ["inline", "thread"])  # a def handler: no async mode
def test_accept_sync_in_a_replayed_stdlib_handler(serve: Any, run_mode: str) -> None:
    server = serve(FilesAndSocket, server_class_for(run_mode))
    with client(server, "/ws") as ws:
        ws.send("replayed")
        assert ws.recv(timeout=10) == "replayed"
        ws.send(b"x" * 500_000)
        assert ws.recv(timeout=10) == b"x" * 500_000
    conn = server.connection()
    conn.request("GET", "/no-such-file")
    response = conn.getresponse()
    assert response.status == 404
    response.read()
    conn.close()


# -- the stdlib ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_accept_sync_on_the_stdlib_server() -> None:
    """accept_sync needs nothing of aiohttpbase: it runs on http.server's own server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StdlibSyncSocket)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        target = f"ws://127.0.0.1:{server.server_address[1]}/echo"
        with connect(target, open_timeout=10, proxy=None, subprotocols=["chat.v1"]) as ws:
            assert ws.subprotocol == "chat.v1"
            ws.send("stdlib")
            assert ws.recv(timeout=10) == "stdlib"
            ws.send(os.urandom(2 * LIMIT))
            with pytest.raises(ClientClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("GET", "/echo")
        assert conn.getresponse().status == 426
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
