"""WebSockets in handlers, with wsproto (``pip install 'aiohttpbase[websocket]'``).

A handler accepts the WebSocket of a request and then sends and receives messages::

    from aiohttpbase.websocket import accept

    class Chat(aiohttpbase.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        async def do_GET(self):
            ws = await accept(self)
            if ws is None:
                return  # not a WebSocket handshake: accept() answered 426 or 400
            async with ws:
                async for message in ws:
                    await ws.send(message)

``accept`` checks the handshake with wsproto's rules and sends ``101 Switching
Protocols`` through the handler's own ``send_response``/``send_header``/``end_headers``, so
the access line is written as for any response; the server then hands the handler its
connection (see ``aiohttpbase._takeover`` and ``docs/takeover.md``).  ``accept_sync``
is the same for ``def`` handlers on a worker thread (and on ``http.server`` itself).

Frames are read only while the handler receives (``receive()``, ``async for``, and
``close()`` waiting for the client's answer): that is when pings are answered, pongs
noticed and the client's close seen.  Fragmented messages arrive whole; a message larger
than ``max_message_size`` closes the connection with 1009.  No extension
(``permessage-deflate``) is negotiated.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http.server
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

try:
    from wsproto.connection import Connection, ConnectionState, ConnectionType
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Event,
        Message,
        Ping,
        Pong,
        RejectConnection,
        Request,
        TextMessage,
    )
    from wsproto.handshake import H11Handshake
    from wsproto.utilities import LocalProtocolError, RemoteProtocolError
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("aiohttpbase.websocket needs wsproto: pip install 'aiohttpbase[websocket]'") from exc

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ConnectionClosed",
    "SyncWebSocket",
    "WebSocket",
    "accept",
    "accept_sync",
    "is_websocket_request",
]

#: ``max_message_size`` unless given: 1 MiB, as the ``websockets`` library's default.
DEFAULT_MAX_MESSAGE_SIZE = 1 << 20

#: Bytes read from the connection at a time.
_READ_SIZE = 65536

#: The close code of a connection that ended without a closing handshake (RFC 6455 7.1.5).
ABNORMAL_CLOSURE = 1006


class ConnectionClosed(Exception):
    """The WebSocket is closed: raised by ``receive()`` once the closing handshake is over
    (or the connection dropped), and by ``send()``, ``ping()`` after that.

    ``code`` and ``reason`` are the close frame's: the client's when it closed first, the
    server's when it did (``close()``, 1009 for a message too big, 1002/1007 for a protocol
    error); 1006 when the connection ended without one.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (f" ({self.reason})" if self.reason else "")


# -- the handshake ------------------------------------------------------------------------


def _tokens(handler: http.server.BaseHTTPRequestHandler, name: str) -> set[str]:
    values = handler.headers.get_all(name) or []
    return {token.strip().lower() for value in values for token in str(value).split(",")}


def is_websocket_request(handler: http.server.BaseHTTPRequestHandler) -> bool:
    """Whether the handler's request asks for a WebSocket (``GET`` with ``Upgrade:
    websocket`` and ``Connection: upgrade``): to serve something else to other requests
    before calling ``accept``."""
    return (
        handler.command == "GET"
        and "websocket" in _tokens(handler, "Upgrade")
        and "upgrade" in _tokens(handler, "Connection")
    )


def _refuse(
    handler: http.server.BaseHTTPRequestHandler,
    status: int,
    message: str,
    headers: Sequence[tuple[str, str]] = (),
) -> None:
    """Answer a request that is no WebSocket handshake with a small text response."""
    body = (message + "\n").encode()
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _handshake(
    handler: http.server.BaseHTTPRequestHandler,
    subprotocols: str | Sequence[str],
    headers: Sequence[tuple[str, str]],
) -> tuple[Connection, str | None] | None:
    """Check the request; send 101 and return wsproto's connection and the subprotocol
    chosen, or answer with an error and return None."""
    if getattr(handler, "_headers_buffer", None):
        raise RuntimeError("accept() must come before any part of a response")
    if handler.command != "GET":
        _refuse(handler, 405, "A WebSocket handshake is a GET request.", [("Allow", "GET")])
        return None
    if handler.request_version != "HTTP/1.1":
        _refuse(handler, 400, "A WebSocket handshake needs HTTP/1.1.")
        return None
    if "websocket" not in _tokens(handler, "Upgrade"):
        _refuse(
            handler,
            426,
            "This resource speaks WebSocket only.",
            [("Upgrade", "websocket"), ("Connection", "Upgrade")],
        )
        return None
    if handler.headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in handler.headers:
        _refuse(handler, 400, "A WebSocket handshake has no body.")
        return None
    key = handler.headers.get("Sec-WebSocket-Key", "")
    try:
        valid_key = len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        valid_key = False
    if not valid_key and key:
        _refuse(handler, 400, "Sec-WebSocket-Key is not 16 bytes in base64.")
        return None

    handshake = H11Handshake(ConnectionType.SERVER)
    fields = [
        (name.encode("latin-1"), str(value).encode("latin-1")) for name, value in handler.headers.items()
    ]
    try:
        handshake.initiate_upgrade_connection(fields, handler.path.encode("latin-1"))
        request = next(event for event in handshake.events() if isinstance(event, Request))
    except RemoteProtocolError as exc:  # wsproto's verdict: which field is missing or wrong
        hint = exc.event_hint
        status, extra = 400, []
        if isinstance(hint, RejectConnection):
            status = hint.status_code
            extra = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in hint.headers]
        _refuse(handler, status, f"Bad WebSocket handshake: {exc}.", extra)
        return None
    except (LocalProtocolError, ValueError, StopIteration) as exc:  # h11 refused the fields
        _refuse(handler, 400, f"Bad WebSocket handshake: {exc}.")
        return None

    offered = request.subprotocols
    wanted = [subprotocols] if isinstance(subprotocols, str) else list(subprotocols)
    chosen = next((name for name in wanted if name in offered), None)
    response = handshake.send(
        AcceptConnection(
            subprotocol=chosen,
            extra_headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        )
    )
    connection = handshake.connection
    assert connection is not None
    # wsproto wrote the 101 (Sec-WebSocket-Accept, the subprotocol, ...); its fields go
    # out through the handler, whose status line, Server and Date are the stdlib's.
    handler.send_response(101, "Switching Protocols")
    for line in response.split(b"\r\n")[1:]:
        if line:
            name, _, value = line.partition(b":")
            handler.send_header(name.decode("latin-1"), value.strip().decode("latin-1"))
    handler.end_headers()
    handler.close_connection = True
    return connection, chosen


# -- the protocol, without I/O ------------------------------------------------------------


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _check_close_code(code: int) -> None:
    if not (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) and not 3000 <= code <= 4999:
        raise ValueError(f"{code} is not a close code an endpoint may send")


class _Session:
    """What both ``WebSocket`` and ``SyncWebSocket`` do apart from reading and writing:
    wsproto's connection, messages put together from their frames, the size limit, pings
    waiting for their pong, and the closing handshake.  Bytes to send pile up in
    ``outgoing``; complete messages in ``messages``."""

    def __init__(self, connection: Connection, max_message_size: int | None) -> None:
        self.connection = connection
        self.max_message_size = max_message_size
        self.messages: deque[str | bytes] = deque()
        self.outgoing = bytearray()
        #: Payloads of the pongs received, for the wrapper to match with its pings.
        self.pongs: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason = ""
        #: The server sent its close frame first: what arrives now is dropped.
        self.closing = False
        #: No frame will be read or sent any more.
        self.closed = False
        self._parts: list[Any] = []
        self._size = 0
        self._dropping = False  # the rest of a message that was too big

    def error(self) -> ConnectionClosed:
        return ConnectionClosed(
            ABNORMAL_CLOSURE if self.close_code is None else self.close_code, self.close_reason
        )

    def frame(self, event: Event) -> bytes:
        """The bytes of a data or ping frame to send; raises once closing."""
        if self.closing or self.closed or self.connection.state is not ConnectionState.OPEN:
            raise self.error()
        return self.connection.send(event)

    def message_frame(self, message: str | bytes | bytearray | memoryview) -> bytes:
        if isinstance(message, str):
            return self.frame(TextMessage(data=message))
        if isinstance(message, (bytes, bytearray, memoryview)):
            return self.frame(BytesMessage(data=bytes(message)))
        raise TypeError(f"a WebSocket message is str or bytes, not {type(message).__name__}")

    def take_outgoing(self) -> bytes:
        data = bytes(self.outgoing)
        self.outgoing.clear()
        return data

    def start_close(self, code: int, reason: str) -> None:
        """Send a close frame (the server closes first)."""
        if not self.closed and self.connection.state is ConnectionState.OPEN:
            self.outgoing += self.connection.send(CloseConnection(code=code, reason=reason or None))
            self.close_code, self.close_reason = code, reason
            self.closing = True
            self.messages.clear()
            self._parts.clear()

    def abandon(self) -> None:
        """Stop: the connection broke, or the client did not answer our close in time."""
        if self.close_code is None:
            self.close_code = ABNORMAL_CLOSURE
        self.closed = True

    def feed(self, data: bytes | None) -> None:
        """Bytes from the client (None: the connection ended), for ``process``."""
        if not self.closed:
            self.connection.receive_data(data)

    def process(self) -> None:
        """Handle the frames received, in order, until a message is complete or the
        connection is closed.  Frames behind a message wait for the next call: a close
        frame that follows a message is answered once the handler has taken the message,
        as a handler reading the stream itself would."""
        if self.closed or self.messages:
            return
        for event in self.connection.events():  # (wsproto keeps what is not taken yet)
            if isinstance(event, Message):
                self._on_data(event)
            elif isinstance(event, Ping):
                if self.connection.state is ConnectionState.OPEN:
                    self.outgoing += self.connection.send(event.response())
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                self._on_close(event)
            if self.messages or self.closed:
                return

    def _on_data(self, event: Message[Any]) -> None:
        if self.closing or self._dropping:
            self._dropping = not event.message_finished
            return
        data = event.data
        if self.max_message_size is not None:
            self._size += _utf8_size(data) if isinstance(data, str) else len(data)
            if self._size > self.max_message_size:
                self._dropping = not event.message_finished
                self.start_close(1009, f"message larger than {self.max_message_size} bytes")
                return
        if event.message_finished and not self._parts:
            self.messages.append(data if type(data) is str or type(data) is bytes else bytes(data))
        else:
            self._parts.append(data)
            if event.message_finished:
                parts, self._parts = self._parts, []
                self.messages.append("".join(parts) if isinstance(event, TextMessage) else b"".join(parts))
        if event.message_finished:
            self._size = 0

    def _on_close(self, event: CloseConnection) -> None:
        state = self.connection.state
        if state is ConnectionState.REMOTE_CLOSING:  # the client closes: answer, done
            self.outgoing += self.connection.send(event.response())
            self.close_code, self.close_reason = int(event.code), event.reason or ""
        elif state is ConnectionState.OPEN:
            # wsproto found a protocol error (1002, 1007, ...): say so and stop
            # ("fail the WebSocket connection", RFC 6455 section 7.1.7).
            self.outgoing += self.connection.send(CloseConnection(code=event.code, reason=event.reason))
            self.close_code, self.close_reason = int(event.code), event.reason or ""
        elif self.close_code is None:  # the connection ended (1006)
            self.close_code, self.close_reason = int(event.code), event.reason or ""
        # else: the client answered our close frame; ours is the code.
        self.closed = True


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


# -- async def handlers -------------------------------------------------------------------


async def accept(
    handler: http.server.BaseHTTPRequestHandler,
    *,
    subprotocols: str | Sequence[str] = (),
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    close_timeout: float = 10.0,
    headers: Sequence[tuple[str, str]] = (),
) -> WebSocket | None:
    """Accept the WebSocket of an ``async def`` handler's request, or refuse the request.

    Returns a ``WebSocket`` after sending ``101 Switching Protocols``; returns
    ``None`` after answering a request that is not a valid handshake: **426** (with
    ``Upgrade: websocket``) to one without ``Upgrade: websocket`` or with a
    ``Sec-WebSocket-Version`` other than 13, **405** to another method than ``GET``,
    **400** to anything else wsproto refuses.

    ``subprotocols``: the server's subprotocols in order of preference; the first one the
    client offered (``Sec-WebSocket-Protocol``) is chosen, none if it offered none of them
    (``WebSocket.subprotocol``).  ``max_message_size``: bytes of the largest message
    received (None: no limit); a larger one closes the connection with 1009.
    ``close_timeout``: how long ``close()`` waits for the client's answer.  ``headers``:
    more fields for the 101 response.
    """
    read = getattr(handler.rfile, "aread1", None)
    drain = getattr(handler.wfile, "drain", None)
    if read is None or drain is None:
        raise TypeError(
            "accept() needs an async def handler served by aiohttpbase; "
            "a def handler on a worker thread uses accept_sync()"
        )
    accepted = _handshake(handler, subprotocols, headers)
    if accepted is None:
        return None
    connection, chosen = accepted
    ws = WebSocket(handler, connection, chosen, max_message_size, close_timeout)
    await ws._write()  # the 101 leaves now
    return ws


class WebSocket:
    """The server's end of a WebSocket, for ``async def`` handlers (made by ``accept``).

    ``receive()`` returns the next message, ``str`` or ``bytes``, and raises
    ``ConnectionClosed`` once the connection is closed; ``async for message in ws``
    ends quietly there instead.  ``async with ws:`` closes it on the way out (1000, or
    1011 if an exception leaves the block; a ``ConnectionClosed`` is swallowed).

    One task may receive while others send: sends are serialised, and each waits until
    the client has taken enough (the connection's flow control).  A message is sent as
    one frame.  ``receive()`` may be cancelled (``asyncio.wait_for(ws.receive(), 30)``)
    without losing data.
    """

    def __init__(
        self,
        handler: http.server.BaseHTTPRequestHandler,
        connection: Connection,
        subprotocol: str | None,
        max_message_size: int | None,
        close_timeout: float,
    ) -> None:
        self._session = _Session(connection, max_message_size)
        self._read: Callable[[int], Awaitable[bytes]] = getattr(handler.rfile, "aread1")  # noqa: B009
        self._drain: Callable[[], Awaitable[None]] = getattr(handler.wfile, "drain")  # noqa: B009
        self._wfile = handler.wfile
        self._close_timeout = close_timeout
        self._receiving = asyncio.Lock()
        self._sending = asyncio.Lock()
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self.subprotocol = subprotocol
        """The subprotocol chosen from the client's offer, or None."""

    @property
    def closed(self) -> bool:
        """True once no frame can be sent or received any more."""
        return self._session.closed

    @property
    def close_code(self) -> int | None:
        """The code of the close frame that ended the connection (see ``ConnectionClosed``);
        None while it is open."""
        return self._session.close_code

    @property
    def close_reason(self) -> str:
        """The reason in that close frame ("" if none)."""
        return self._session.close_reason

    # -- receiving -------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text message, ``bytes`` for a binary one.
        Raises ``ConnectionClosed`` once the connection is closed; messages that
        arrived before the client's close frame are returned first."""
        session = self._session
        async with self._receiving:
            while True:
                await self._process()
                if session.messages:
                    return session.messages.popleft()
                if session.closed:
                    raise session.error()
                if session.closing:
                    await self._finish_closing(_deadline(self._close_timeout))
                else:
                    await self._read_more(None)

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.receive()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def _process(self) -> None:
        """Handle what has been received; send what that answers (pongs, close frames)."""
        self._session.process()
        self._settle_pings()
        if self._session.outgoing:
            async with self._sending:
                await self._write(self._session.take_outgoing())

    async def _read_more(self, deadline: float | None) -> None:
        try:
            if deadline is None:
                data = await self._read(_READ_SIZE)
            else:
                data = await asyncio.wait_for(self._read(_READ_SIZE), max(0.0, deadline - time.monotonic()))
        except ConnectionError:
            data = b""
        self._session.feed(data or None)

    async def _finish_closing(self, deadline: float | None) -> None:
        """The server sent its close frame: read until the client answers (or leaves), at
        most until ``deadline``."""
        try:
            while True:
                await self._process()
                if self._session.closed:
                    break
                await self._read_more(deadline)
        except asyncio.TimeoutError:
            self._session.abandon()
        finally:
            self._settle_pings()

    # -- sending ---------------------------------------------------------------------

    async def _write(self, *chunks: bytes) -> None:
        """Send ``chunks`` and wait until the client has taken enough.  The caller holds
        ``_sending``: one ``drain()`` at a time (two at once would strand one of them)."""
        try:
            for data in chunks:
                if data:
                    self._wfile.write(data)
            await self._drain()
        except (BrokenPipeError, ConnectionResetError, ValueError) as exc:  # ValueError: wfile closed
            self._session.abandon()
            self._settle_pings()
            raise self._session.error() from exc

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary message; raises ``ConnectionClosed`` once
        the connection is closing or closed."""
        async with self._sending:
            frame = self._session.message_frame(message)
            await self._write(self._session.take_outgoing(), frame)

    async def ping(self, data: bytes | None = None) -> asyncio.Future[float]:
        """Send a ping (``data``: up to 125 bytes, random if None) and return a future
        that resolves to the round trip in seconds when its pong has been received, which
        happens while the handler receives.  It fails with ``ConnectionClosed`` if the
        connection closes first."""
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif data in self._pings:
            raise ValueError("a ping with this payload is waiting for its pong already")
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        async with self._sending:
            frame = self._session.frame(Ping(payload=bytes(data)))
            self._pings[bytes(data)] = (waiter, time.monotonic())
            await self._write(self._session.take_outgoing(), frame)
        return waiter

    def _settle_pings(self) -> None:
        """Resolve the pings the pongs received answer (and the earlier ones); fail all of
        them once closed."""
        session = self._session
        for payload in session.pongs:
            if payload in self._pings:
                now = time.monotonic()
                while self._pings:
                    key, (waiter, sent) = next(iter(self._pings.items()))
                    del self._pings[key]
                    if not waiter.done():
                        waiter.set_result(now - sent)
                    if key == payload:
                        break
        session.pongs.clear()
        if session.closed:
            for waiter, _ in self._pings.values():
                if not waiter.done():
                    waiter.set_exception(session.error())
                    waiter.exception()  # nobody awaiting it is no error worth logging
            self._pings.clear()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: send a close frame with ``code`` and ``reason``, then wait
        (``close_timeout``) for the client's.  Does nothing once closed."""
        _check_close_code(code)
        session = self._session
        if session.closed:
            return
        deadline = _deadline(self._close_timeout)
        async with self._sending:
            session.start_close(code, reason)
            try:
                await self._write(session.take_outgoing())
            except ConnectionClosed:
                return
        if not session.closing:
            return  # it closed meanwhile
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            await asyncio.wait_for(self._receiving.acquire(), timeout)
        except asyncio.TimeoutError:
            session.abandon()  # another task is receiving and did not see the answer
            self._settle_pings()
            return
        try:
            await self._finish_closing(deadline)
        except ConnectionClosed:
            pass  # the connection broke while answering
        finally:
            self._receiving.release()

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or isinstance(exc, ConnectionClosed):
            await self.close()
            return exc is not None
        if isinstance(exc, Exception):
            try:
                await self.close(1011, "internal error")
            except ConnectionClosed:
                pass
        return False


# -- def handlers on a worker thread ------------------------------------------------------


def accept_sync(
    handler: http.server.BaseHTTPRequestHandler,
    *,
    subprotocols: str | Sequence[str] = (),
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    close_timeout: float = 10.0,
    headers: Sequence[tuple[str, str]] = (),
) -> SyncWebSocket | None:
    """``accept`` for a ``def`` handler on a worker thread (``ThreadingHTTPServer``, or
    ``HTTPServer``, which runs upgrade requests on a thread); it also works on
    ``http.server``'s own servers.  The ``SyncWebSocket`` blocks where
    ``WebSocket`` awaits; reads and writes are bounded by the handler's ``timeout``."""
    accepted = _handshake(handler, subprotocols, headers)
    if accepted is None:
        return None
    connection, chosen = accepted
    handler.wfile.flush()
    return SyncWebSocket(handler, connection, chosen, max_message_size, close_timeout)


class SyncWebSocket:
    """The server's end of a WebSocket for a handler on a worker thread (made by
    ``accept_sync``): ``WebSocket`` with blocking methods.  ``for message in ws`` ends
    when the connection closes; ``with ws:`` closes it on the way out.  One thread may
    receive while others send.  ``ping()`` returns a ``threading.Event``, set when its
    pong has been received."""

    def __init__(
        self,
        handler: http.server.BaseHTTPRequestHandler,
        connection: Connection,
        subprotocol: str | None,
        max_message_size: int | None,
        close_timeout: float,
    ) -> None:
        self._session = _Session(connection, max_message_size)
        self._handler = handler
        self._close_timeout = close_timeout
        self._receiving = threading.Lock()
        self._sending = threading.Lock()
        self._pings: dict[bytes, threading.Event] = {}
        self.subprotocol = subprotocol
        """The subprotocol chosen from the client's offer, or None."""

    @property
    def closed(self) -> bool:
        """True once no frame can be sent or received any more."""
        return self._session.closed

    @property
    def close_code(self) -> int | None:
        """The code of the close frame that ended the connection; None while it is open."""
        return self._session.close_code

    @property
    def close_reason(self) -> str:
        """The reason in that close frame ("" if none)."""
        return self._session.close_reason

    def receive(self) -> str | bytes:
        """The next message (blocking); raises ``ConnectionClosed`` once closed, and
        ``TimeoutError`` after the handler's ``timeout``."""
        session = self._session
        with self._receiving:
            while True:
                self._process()
                if session.messages:
                    return session.messages.popleft()
                if session.closed:
                    raise session.error()
                if session.closing:
                    self._finish_closing(_deadline(self._close_timeout))
                else:
                    self._read_more()

    def __iter__(self) -> Iterator[str | bytes]:
        while True:
            try:
                yield self.receive()
            except ConnectionClosed:
                return

    def _process(self) -> None:
        self._session.process()
        self._settle_pings()
        if self._session.outgoing:
            with self._sending:
                self._write(self._session.take_outgoing())

    def _read_more(self) -> None:
        try:
            data = self._handler.rfile.read1(_READ_SIZE)
        except ConnectionError:
            data = b""
        self._session.feed(data or None)

    def _finish_closing(self, deadline: float | None) -> None:
        connection = self._handler.connection
        previous = connection.gettimeout()
        try:
            while True:
                self._process()
                if self._session.closed:
                    break
                remaining = None if deadline is None else max(0.001, deadline - time.monotonic())
                connection.settimeout(remaining)
                self._read_more()
        except (TimeoutError, OSError, ValueError):  # ValueError: the file gave up after a timeout
            self._session.abandon()
        finally:
            self._settle_pings()
            try:
                connection.settimeout(previous)
            except OSError:
                pass

    def _write(self, *chunks: bytes) -> None:
        try:
            for data in chunks:
                if data:
                    self._handler.wfile.write(data)
            self._handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError) as exc:
            self._session.abandon()
            self._settle_pings()
            raise self._session.error() from exc

    def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary message (blocking while the client is slow)."""
        with self._sending:
            frame = self._session.message_frame(message)
            self._write(self._session.take_outgoing(), frame)

    def ping(self, data: bytes | None = None) -> threading.Event:
        """Send a ping; the event is set when its pong has been received (while the
        handler receives) or the connection has closed."""
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif data in self._pings:
            raise ValueError("a ping with this payload is waiting for its pong already")
        answered = threading.Event()
        with self._sending:
            frame = self._session.frame(Ping(payload=bytes(data)))
            self._pings[bytes(data)] = answered
            self._write(self._session.take_outgoing(), frame)
        return answered

    def _settle_pings(self) -> None:
        session = self._session
        for payload in session.pongs:
            if payload in self._pings:
                while self._pings:
                    key = next(iter(self._pings))
                    self._pings.pop(key).set()
                    if key == payload:
                        break
        session.pongs.clear()
        if session.closed:
            for answered in self._pings.values():
                answered.set()
            self._pings.clear()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and wait (``close_timeout``) for the client's answer."""
        _check_close_code(code)
        session = self._session
        if session.closed:
            return
        deadline = _deadline(self._close_timeout)
        with self._sending:
            session.start_close(code, reason)
            try:
                self._write(session.take_outgoing())
            except ConnectionClosed:
                return
        if not session.closing or not self._receiving.acquire(timeout=self._close_timeout):
            if session.closing:
                session.abandon()
            return
        try:
            self._finish_closing(deadline)
        except ConnectionClosed:
            pass
        finally:
            self._receiving.release()

    def __enter__(self) -> SyncWebSocket:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or isinstance(exc, ConnectionClosed):
            self.close()
            return exc is not None
        if isinstance(exc, Exception):
            try:
                self.close(1011, "internal error")
            except ConnectionClosed:
                pass
        return False
