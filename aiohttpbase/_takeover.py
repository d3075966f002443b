"""Connections a handler takes over: after ``101 Switching Protocols`` or a 2xx to ``CONNECT``.

Theory of operation: on the stdlib a handler that switches protocols simply keeps using
its socket -- a WebSocket endpoint reads frames from ``rfile`` and writes them to
``wfile``, a ``do_CONNECT`` proxy relays between ``self.connection`` and an upstream
socket with ``select``.  Here the client's socket belongs to the event loop, so the
connection, once the switching head has left (``ResponseWriter.on_switch``), stops
parsing HTTP and hands the handler a raw byte stream instead:

* **worker thread** (``ThreadingHTTPServer``, and ``HTTPServer``, which runs requests that
  may switch on a thread so a blocking relay cannot stall the loop): the handler gets one
  end of a ``socketpair``; the loop relays between the client's transport and the other
  end (``SocketTunnel``).  The handler's ``self.connection`` is a real socket for every
  call -- ``recv``, ``sendall``, ``settimeout``, ``makefile``, ``fileno`` and so
  ``select`` -- and bytes the client sent after the head are relayed first.  It works the
  same over TLS, where the client's own socket carries ciphertext.
* ``async def`` **handlers**: ``rfile`` keeps being fed, now with the raw bytes
  (``await self.rfile.aread1()``), and ``wfile`` writes straight to the transport
  (``await self.wfile.drain()``) -- ``StreamTunnel``.

Either way the connection closes when the handler returns (the stdlib's
``shutdown_request``) or when the client goes; no HTTP timeout applies any more, only
the handler's own ``timeout`` on its reads and writes.  Flow control holds both ways:
a side that stops reading pauses the other.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from ._streams import BodyReader, ConnectionProxy, ResponseStream

__all__ = ["SocketTunnel", "StreamTunnel", "may_switch"]

logger = logging.getLogger("aiohttpbase.error")


def may_switch(method: str, connection: str) -> bool:
    """Whether a request may be answered by taking over its connection: ``CONNECT``, or
    an upgrade request (RFC 9110 section 7.8: ``Upgrade`` comes with ``Connection: upgrade``)."""
    return method == "CONNECT" or (bool(connection) and "upgrade" in connection.lower())


class _SocketSink:
    """``wfile`` after a takeover on a worker thread: writes go to the raw socket."""

    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> None:
        self._sock.sendall(data)

    def flush(self) -> None:
        pass  # every write is sent before it returns

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        return self._sock.sendfile(file, offset, count)


class _TransportSink:
    """``wfile`` after a takeover by an ``async`` handler: writes go to the transport."""

    __slots__ = ("_transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise BrokenPipeError("the client closed the connection")
        self._transport.write(data)

    def flush(self) -> None:
        pass

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        raise io.UnsupportedOperation("sendfile after a takeover: write the bytes and drain")


class StreamTunnel:
    """The raw connection of an ``async`` handler: ``rfile`` fed with what arrives."""

    def __init__(
        self,
        transport: asyncio.Transport,
        reader: BodyReader,
        wfile: ResponseStream,
        drain: Callable[[], Awaitable[None]],
        received: bytes,
    ) -> None:
        self._transport = transport
        self._reader = reader
        reader.reopen(received)
        wfile.redirect(_TransportSink(transport), drain)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet read by the handler (the connection pauses reading
        above its high-water mark)."""
        return self._reader.buffered

    def from_client(self, data: bytes) -> None:
        self._reader.feed(data)

    def client_eof(self) -> None:
        self._reader.feed_eof()

    def client_lost(self) -> None:
        self._reader.fail(ConnectionResetError("the client closed the connection"))

    def client_writable(self, writable: bool) -> None:
        pass  # the handler waits in wfile.drain(), which the connection wakes

    def handler_done(self) -> None:
        self._transport.close()  # after sending what is queued


class SocketTunnel(asyncio.Protocol):
    """Relays between the client's transport and the loop's end of a socket pair whose
    other end a worker-thread handler holds as its connection."""

    def __init__(self, transport: asyncio.Transport, proxy: ConnectionProxy, received: bytes) -> None:
        self._client = transport
        self._pair: asyncio.Transport | None = None
        #: Client bytes waiting until the pair is connected to the loop.
        self._pending: list[bytes] = [received] if received else []
        self._client_eof = False
        self._client_paused = False
        loop_end, handler_end = socket.socketpair()
        self._handler_end = handler_end
        self._handler_file = handler_end.makefile("rb")
        proxy.take_over(handler_end)
        if isinstance(proxy.rfile, BodyReader):
            proxy.rfile.take_over(self._handler_file)
        if isinstance(proxy.wfile, ResponseStream):
            proxy.wfile.redirect(_SocketSink(handler_end))
        transport.pause_reading()  # until the pair is on the loop (start)
        self._started = asyncio.get_running_loop().create_task(self._start(loop_end))

    async def _start(self, loop_end: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: self, loop_end)
        except OSError:
            logger.exception("could not hand the connection over")
            self._client.abort()

    # -- the pair's side (asyncio.Protocol) ----------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._pair = pair = transport  # type: ignore[assignment]
        for data in self._pending:
            pair.write(data)  # type: ignore[attr-defined]
        self._pending.clear()
        if self._client_eof:
            pair.write_eof()  # type: ignore[attr-defined]
        if self._client.is_closing():
            pair.close()
            return
        if self._client_paused:
            pair.pause_reading()  # type: ignore[attr-defined]
        self._client.resume_reading()

    def data_received(self, data: bytes) -> None:
        self._client.write(data)

    def eof_received(self) -> bool:
        return False  # the handler is done sending: close, which ends the client's side

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.close()  # after sending what is queued

    def pause_writing(self) -> None:
        self._client.pause_reading()  # the handler is not reading: stop reading the client

    def resume_writing(self) -> None:
        if not self._client.is_closing():
            self._client.resume_reading()

    # -- the client's side (called by the connection) ------------------------------------

    @property
    def buffered(self) -> int:
        return 0  # everything received is passed on at once; flow control is the pair's

    def from_client(self, data: bytes) -> None:
        if self._pair is None:
            self._pending.append(data)
        else:
            self._pair.write(data)

    def client_eof(self) -> None:
        self._client_eof = True
        if self._pair is not None and not self._pair.is_closing():
            self._pair.write_eof()

    def client_lost(self) -> None:
        if self._pair is not None:
            self._pair.close()
        else:
            self._started.cancel()
            self._handler_end.close()

    def client_writable(self, writable: bool) -> None:
        """The client stopped (or resumed) reading: stop (resume) reading the handler."""
        self._client_paused = not writable
        pair = self._pair
        if pair is not None and not pair.is_closing():
            if writable:
                pair.resume_reading()
            else:
                pair.pause_reading()

    def handler_done(self) -> None:
        """The handler returned: end the connection as the stdlib's ``shutdown_request``."""
        try:
            self._handler_end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
        self._handler_file.close()
        self._handler_end.close()
