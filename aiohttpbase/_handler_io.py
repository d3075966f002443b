"""The handler's side of each exchange: its ``rfile``, ``wfile`` and connection object.

Theory of operation: where a handler runs decides what its streams are (``_streams``):

* inline, or on a thread with a chunked body read whole first (``Exchange.buffered``):
  ``rfile`` is the whole body (``io.BytesIO``, or a temporary file), handed over once it
  is in; ``wfile`` writes into the response writer (a thread's writes pass through a
  ``ThreadedSink``, which blocks it while the client is slow);
* streaming, on a thread or as an ``async`` task: ``rfile`` is a ``BodyReader`` fed as the
  body arrives (bounded: reading pauses above ``READ_HIGH_WATER``), and ``wfile`` writes
  through the sink (thread) or straight into the writer with an awaitable ``drain``.

``HandlerIO`` makes them for each exchange, passes the transport's pauses on to the
thread sink, fails them when the client goes, writes the handler class's error pages,
and builds the tunnel of a connection a handler takes over (``_takeover``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Callable
from typing import Any

from ._bridge import THREAD, replay_bytes
from ._core import HTTPCore
from ._events import RequestError, RequestHead
from ._exchange import Exchange
from ._flow import FlowControl
from ._state import ServerState
from ._streams import BodyReader, ConnectionProxy, ResponseStream, ThreadedSink
from ._takeover import SocketTunnel, StreamTunnel

__all__ = ["HandlerIO"]

logger = logging.getLogger("aiohttpbase.error")

_GONE: Any = io.BytesIO()  # the streams of a connection that is gone


class HandlerIO:
    """Makes and ends the streams of one connection's handlers."""

    __slots__ = ("_state", "_core", "_writer", "_flow", "_loop", "_update_reading", "proxy")

    def __init__(
        self,
        state: ServerState,
        core: HTTPCore,
        flow: FlowControl,
        update_reading: Callable[[], None],
        proxy: ConnectionProxy,
    ) -> None:
        self._state = state
        self._core = core
        self._writer = core.writer
        self._flow = flow
        self._loop = asyncio.get_running_loop()
        self._update_reading = update_reading
        #: ``self.connection`` and ``self.request`` of the connection's handlers.
        self.proxy = proxy

    def open(self, exchange: Exchange) -> None:
        """Give ``exchange`` (just made from its head) the streams its mode wants."""
        proxy = self.proxy
        proxy.access_logged = False
        proxy.logged_status = 0
        mode = exchange.mode
        if mode == THREAD:
            exchange.sink = ThreadedSink(
                self._loop, self._deliver, self._timeout, in_step=exchange.may_switch
            )
            exchange.sink.set_paused(self._flow.write_paused)
        if exchange.buffered:
            # Until the body is in (``hand_over_body``), ``Expect`` is settled on the loop.
            proxy.rfile = exchange.body = io.BytesIO()
            proxy.wfile = ResponseStream(self._writer)
            return
        head = exchange.head
        state = self._state
        prefix = b"" if state.bridge.direct else replay_bytes(head, drop_expect=False)
        reader = BodyReader(state.loop_thread, self._reader_drained, self._timeout, prefix)
        if not head.has_body:
            reader.feed_eof()
        proxy.rfile = exchange.reader = reader
        if mode == THREAD:
            proxy.wfile = ResponseStream(exchange.sink)
        else:
            proxy.wfile = ResponseStream(self._writer, self._wait_writable)

    def hand_over_body(self, exchange: Exchange) -> None:
        """The body read whole becomes the handler's ``rfile`` (see ``Exchange``)."""
        wfile = ResponseStream(exchange.sink) if exchange.mode == THREAD else self.proxy.wfile
        exchange.hand_over_body(self.proxy, wfile)

    def send_error_page(
        self, error: RequestError, client_address: Any, head: RequestHead | None = None
    ) -> None:
        """Write the handler class's error page for ``error`` (``send_error``'s page)
        straight into the response writer."""
        self.proxy.wfile = ResponseStream(self._writer)
        try:
            self._state.bridge.send_error_page(
                self.proxy,
                client_address,
                error.status,
                error.message,
                error.explain,
                head=head,
                request_line=error.request_line,
            )
        except Exception:
            logger.exception("error page failed")

    def set_writable(self, exchange: Exchange | None, writable: bool) -> None:
        """The transport paused or resumed writing: a thread's writes wait or go on."""
        if exchange is not None and exchange.sink is not None:
            exchange.sink.set_paused(not writable)

    def lost(self, exchange: Exchange | None) -> None:
        """The client is gone: a handler still running learns it as a socket would tell
        it; the streams of one that is not are let go of now (an abandoned upload's body
        would otherwise wait for the cyclic collector, as the connection refers to itself)."""
        if exchange is not None:
            exchange.client_gone = True
            if exchange.reader is not None:
                exchange.reader.fail(ConnectionResetError("the client closed the connection"))
            if exchange.sink is not None:
                exchange.sink.fail(BrokenPipeError("the client closed the connection"))
        if exchange is None or not exchange.running:
            self.proxy.rfile = self.proxy.wfile = _GONE

    def tunnel(
        self, exchange: Exchange, transport: asyncio.Transport, received: bytes
    ) -> SocketTunnel | StreamTunnel:
        """The raw byte streams of a connection ``exchange``'s handler takes over."""
        if exchange.mode == THREAD:
            return SocketTunnel(transport, self.proxy, received)
        wfile = self.proxy.wfile
        assert isinstance(wfile, ResponseStream)
        return StreamTunnel(transport, exchange.reader, wfile, self._wait_writable, received)

    def _reader_drained(self) -> None:
        """Called by a ``BodyReader`` (any thread) once its buffer ran low."""
        if threading.get_ident() == self._state.loop_thread:
            self._update_reading()
        else:
            self._loop.call_soon_threadsafe(self._update_reading)

    async def _wait_writable(self) -> None:
        """``wfile.drain()`` of async handlers (see ``FlowControl.wait_writable``)."""
        await self._flow.wait_writable(self._timeout(), lambda: self._core.closing)

    def _timeout(self) -> float | None:
        return self.proxy.gettimeout()

    def _deliver(self, data: bytes) -> None:
        """Loop side of ``ThreadedSink``: one write of a worker thread."""
        if not self._core.closing:
            self._writer.write(data)
            self._writer.flush()
