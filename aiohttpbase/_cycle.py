"""The request/response cycle of one connection: the core's events, exchanges, runners.

Theory of operation: ``RequestCycle`` takes the request events of the connection's
``HTTPCore`` (``_core``) and serves them one ``Exchange`` at a time.  Handler code runs in
one of three ways (``HandlerBridge.mode_for``), each a runner (``_runners``):

* inline, on the loop (``HTTPServer``): the body is buffered (bounded, 413 above the limit)
  before ``do_<COMMAND>`` is called, so blocking ``rfile`` reads are memory reads;
* on a worker thread (``ThreadingHTTPServer``, and any request that may take its
  connection over): dispatched as soon as the head is in; ``rfile`` streams the body with
  backpressure and ``wfile`` blocks while the client is slow (``_streams``);
* as a task on the loop, for ``async def do_<COMMAND>``, with the same streaming ``rfile``
  (``await self.rfile.aread()``) and ``await self.wfile.drain()``.

Whatever ran it, the response is completed once both the handler has returned and the
request body has been read to its end (unread body bytes are discarded, never parsed as a
request); ``HTTPCore.finish_response`` then decides whether the connection carries
another.  A handler that switches protocols takes the connection out of HTTP
(``_takeover``).  What the cycle needs of the transport side -- reading paused or
resumed, closing, a takeover -- it asks of its ``Link`` (the protocol).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ._bridge import INLINE, THREAD
from ._core import ENDING, HTTPCore
from ._events import BodyData, EndOfRequest, RequestError, RequestHead
from ._exchange import Exchange, plan
from ._flow import FlowControl
from ._handler_io import HandlerIO
from ._pump import FilePump
from ._state import Connection, ServerState
from ._streams import READ_HIGH_WATER, ConnectionProxy
from ._takeover import SocketTunnel, StreamTunnel

__all__ = ["Link", "RequestCycle"]


class Link(Connection, Protocol):
    """What the cycle asks of the transport side of its connection (which the server's
    bookkeeping knows as a ``Connection``: a request waiting for a ``handle_request``
    turn parks it)."""

    def update_reading(self) -> None:
        """Pause or resume reading, as the connection's holdings now require."""

    def close(self) -> None:
        """End the connection now."""

    def close_transport(self) -> None:
        """Close after what is written (the response ended the connection)."""

    def take_over(self, tunnel: SocketTunnel | StreamTunnel) -> None:
        """The connection left HTTP: its bytes go to ``tunnel`` from now on."""


class RequestCycle:
    """Serves the requests of one connection, in order."""

    __slots__ = (
        "_state",
        "_core",
        "_writer",
        "_flow",
        "_link",
        "_loop",
        "_transport",
        "_pump",
        "_io",
        "proxy",
        "_peer",
        "client_address",
        "exchange",
        "ready",
        "tunnel",
        "waiting_since",
    )

    def __init__(
        self,
        state: ServerState,
        core: HTTPCore,
        flow: FlowControl,
        link: Link,
        transport: asyncio.Transport,
    ) -> None:
        self._state = state
        self._core = core
        self._writer = core.writer
        self._writer.on_switch = self._switch
        self._flow = flow
        self._link = link
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        self._peer = self.client_address = peer
        #: ``self.connection`` and ``self.request`` of the connection's handlers.
        self.proxy = ConnectionProxy(transport.get_extra_info("socket"), peer, self._close_after_response)
        self._io = HandlerIO(state, core, flow, link.update_reading, self.proxy)
        self._pump = FilePump.for_transport(transport, self._writer)
        #: The request being served (None between requests).
        self.exchange: Exchange | None = None
        #: The exchange's handler may start once a ``handle_request`` turn allows it.
        self.ready = False
        #: Set once a handler has taken over the connection (see ``_takeover``).
        self.tunnel: SocketTunnel | StreamTunnel | None = None
        #: Since when the next request is awaited (the accept, or the last response's end).
        self.waiting_since = self._loop.time()

    @property
    def idle(self) -> bool:
        """No request in progress and none partly received."""
        return self.exchange is None and self._core.idle

    @property
    def holding(self) -> bool:
        """Whether reading should pause: a complete request waits for its turn, a body its
        handler has not caught up with, or pipelined requests behind a running handler."""
        reader = self.exchange.reader if self.exchange is not None else None
        if reader is not None and reader.buffered > READ_HIGH_WATER:
            return True
        return self.ready or len(self._core.received) > READ_HIGH_WATER

    def set_writable(self, writable: bool) -> None:
        """The transport paused or resumed writing."""
        self._io.set_writable(self.exchange, writable)
        self._pump.set_paused(not writable)

    def lost(self) -> None:
        """The transport is gone (see ``HandlerIO.lost``)."""
        exchange = self.exchange
        self._io.lost(exchange)
        if exchange is not None and not exchange.running:
            self.exchange = None
        self._writer.close_files()

    def _close_after_response(self) -> None:
        """``self.connection.close()`` (or ``shutdown``) from a handler."""
        if self.exchange is not None:
            self.exchange.must_close = True

    def process(self) -> None:
        """Turn the core's events into exchanges and run them, as far as they go now."""
        core = self._core
        while core.phase < ENDING:  # (the attribute, not the property: this loop is hot)
            if self.ready:
                exchange = self.exchange
                assert exchange is not None
                if (self._flow.write_paused and exchange.mode == INLINE) or not self._state.may_dispatch(
                    self._link
                ):
                    self._link.update_reading()
                    return
                self.ready = False
                self._dispatch(exchange)
                continue
            event = core.next_event()
            kind = type(event)
            if kind is BodyData:
                self._on_body(event.data)  # type: ignore[union-attr]
            elif kind is RequestHead:
                self._start_request(event)  # type: ignore[arg-type]
            elif kind is EndOfRequest:
                self._on_end_of_body()
            elif kind is RequestError:
                self.refuse(event)  # type: ignore[arg-type]
                return
            else:  # NEED_DATA
                if core.peer_eof and self.idle:
                    self._link.close()  # the client half-closed and has been answered
                else:
                    self._link.update_reading()
                return

    def _start_request(self, head: RequestHead) -> None:
        state = self._state
        if state.proxy_trust is not None:
            self.client_address = state.proxy_trust.client_address(self._peer, head.headers)
        mode, switchable, buffered = plan(
            head, state.bridge.mode_for(head.method), state.config.buffer_chunked_body
        )
        exchange = self.exchange = Exchange(
            head, mode, switchable, buffered, self._loop.time(), self.client_address
        )
        self._io.open(exchange)
        if not buffered:
            self.ready = True  # dispatched right away, while the body streams in
            return
        # Read whole first: the handler is made now (settling ``Expect``) and runs once the
        # body is in.  A declared length over the buffer limit is refused before any body
        # byte is read; chunked bodies are counted as they arrive (_on_body).
        length = head.content_length
        if length is not None and length > state.config.max_buffered_body_bytes:
            self.refuse(RequestError(413))
            return
        try:
            exchange.handler, exchange.dispatch_ok = state.bridge.prepare(
                head, self.proxy, self.client_address
            )
            exchange.prepared = True
        except Exception:
            state.server.handle_error(self.proxy, self.client_address)
            exchange.dispatch_ok = False
            exchange.must_close = True
            self._answer_failure()
        if not exchange.dispatch_ok:
            # Refused by handle_expect_100 (or it failed): the answer is already written
            # and the client may never send the body, so do not wait for it.
            self._complete_request()
        elif length == 0:
            # No body (the usual GET): its end is the core's next event; take it now rather
            # than on another turn of process().
            self._core.next_event()
            self._on_end_of_body()

    def _on_body(self, data: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        if not exchange.buffered:
            exchange.reader.feed(data)
            if exchange.reader.buffered > READ_HIGH_WATER:
                self._link.update_reading()
        elif not exchange.take_body(data, self._state.config.max_buffered_body_bytes):
            self.refuse(RequestError(413))

    def _on_end_of_body(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        exchange.body_complete = True
        if exchange.buffered:
            if exchange.head.content_length is None or exchange.mode != INLINE:
                self._io.hand_over_body(exchange)
            self.ready = True
            return
        exchange.reader.feed_eof()
        if not exchange.running and not self.ready:
            self._complete_request()  # the handler returned before the body's end

    def _dispatch(self, exchange: Exchange) -> None:
        state = self._state
        if exchange.mode == THREAD:
            limit = state.config.max_queued_requests
            if limit is not None and state.pool.waiting >= limit:
                state.request_finished()
                self.refuse(RequestError(503, None, "Every handler thread is busy; try again shortly."))
                return
        exchange.running = True
        state.runners[exchange.mode].start(exchange, self.proxy, self._handler_done)

    def _handler_done(self, failure: BaseException | None) -> None:
        """On the loop: the exchange's handler code has returned (``failure``: what it raised)."""
        exchange = self.exchange
        assert exchange is not None
        exchange.running = False
        if self.tunnel is not None:
            self.tunnel.handler_done()
            self._notify_done()
            self._finish_cycle()
            return
        if self._core.phase >= ENDING:  # (closing, without the property: hot)
            self._finish_cycle()
            return
        if failure is not None or exchange.refusal is not None:
            exchange.dispatch_ok = False
            exchange.must_close = True
            self._answer_failure(exchange.refusal)
        handler = exchange.handler
        if (
            exchange.body_complete
            # Refused, failed, the client half-closed, or the handler ends the connection
            # (a timeout, say): do not wait for a body that may never come.
            or not exchange.dispatch_ok
            or exchange.must_close
            or self._core.peer_eof
            or (handler is not None and handler.close_connection)
        ):
            self._complete_request()
            if exchange.mode != INLINE:  # (an inline handler returns into _process)
                self.process()  # requests that arrived meanwhile, or the close after a half-close
        else:
            exchange.reader.discard()  # the rest of the body is read and dropped
            self._writer.flush()  # the answer goes now; its framing ends with the body
            self._link.update_reading()

    def _switch(self) -> bool:
        """The handler sent a switching head (``ResponseWriter.on_switch``): hand it the
        connection if the core agrees (``HTTPCore.switch``); else the response is
        delimited by closing, as any other."""
        exchange = self.exchange
        transport = self._transport
        if exchange is None or transport is None or exchange.mode == INLINE:
            return False
        received = self._core.switch(exchange.head)
        if received is None:
            return False
        self.tunnel = self._io.tunnel(exchange, transport, received)
        self._link.take_over(self.tunnel)
        return True

    def _complete_request(self) -> None:
        """End the response, then go on with the next request or close."""
        exchange = self.exchange
        assert exchange is not None
        keep_alive = self._core.finish_response(exchange)
        if self._writer.next_file() is not None:
            self._pump.start(keep_alive, self._after_response)  # file segments, at the client's pace
        else:
            self._after_response(keep_alive)

    def _after_response(self, keep_alive: bool) -> None:
        if self._state.request_done:
            self._notify_done()
        self._finish_cycle()
        self._core.next_request(keep_alive)
        if keep_alive:
            # Reading resumes (if it was paused) in _process, which every caller runs next.
            self.waiting_since = self._loop.time()
        else:
            self._link.close_transport()

    def _notify_done(self) -> None:
        """Tell the server's listeners (the access log) that a response is complete."""
        exchange = self.exchange
        assert exchange is not None
        writer = self._writer
        proxy = self.proxy
        # No status line to read (an HTTP/0.9 answer is the bare body): the code the
        # handler's send_response logged, as the stdlib's log_request shows it.
        status = writer.status or proxy.logged_status
        for listener in self._state.request_done:
            listener(exchange, status, writer.body_bytes, proxy.access_logged)

    def _finish_cycle(self) -> None:
        self.exchange = None
        self._state.request_finished()

    def _answer_failure(self, refusal: RequestError | None = None) -> None:
        """A handler failed: answer 500 -- or, if its body turned out malformed while it
        streamed, the refusal ``HTTPServer`` gives -- unless its response has begun."""
        if refusal is not None and not refusal.status:
            return  # the client left mid-body: nobody to answer
        if self._writer.discard_unsent():
            if refusal is None:
                exchange = self.exchange
                self._io.send_error_page(
                    RequestError(500), self.client_address, exchange.head if exchange else None
                )
            else:
                self._io.send_error_page(refusal, self.client_address)

    def refuse(self, error: RequestError) -> None:
        """Answer a request the parser refused, then close the connection."""
        exchange = self.exchange
        if exchange is not None and exchange.running:
            # A handler is streaming this request: it sees the body end badly.
            if error.status:
                problem = f"bad request body: {error.explain or error.status}"
            else:
                problem = "the client closed the connection before the request body ended"
            exchange.reader.fail(ConnectionResetError(problem))
            exchange.must_close = True
            exchange.refusal = error
            self._core.stop_reading()  # never parse another byte of this connection
            self._flow.set_read_paused(True)
            return
        writer = self._writer
        if exchange is not None and writer.begun:
            writer.finish()  # the handler answered already: its answer is the only one
        elif error.status:
            head = exchange.head if exchange is not None else None
            writer.start(head.method if head else "GET", "HTTP/1.1", False)
            proxy = self.proxy
            proxy.access_logged = False  # set again by this page's log_request (send_error)
            self._io.send_error_page(error, self.client_address, head)
            writer.finish()
            if proxy.access_logged:
                since = exchange.started_at if exchange is not None else self.waiting_since
                line = head.request_line if head is not None else error.request_line
                self._state.log_refusal(
                    self.client_address, line, writer.status, writer.body_bytes, self._loop.time() - since
                )
        self.exchange = None
        self.ready = False
        self._link.close()
