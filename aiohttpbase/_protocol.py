"""One ``asyncio.Protocol`` per client connection: the transport, the core and the runners.

Theory of operation: bytes from the transport go into the connection's ``HTTPCore``
(``_core``, sans I/O); its request events become one ``Exchange`` at a time, whose handler
code a runner (``_runners``) runs; what the handler writes is framed by the core's
``ResponseWriter`` onto the transport.  Handler code runs in one of three ways
(``HandlerBridge.mode_for``):

* inline, on the loop (``HTTPServer``): the body is buffered (bounded, 413 above the limit)
  before ``do_<COMMAND>`` is called, so blocking ``rfile`` reads are memory reads;
* on a worker thread (``ThreadingHTTPServer``, and any request that may take its
  connection over): dispatched as soon as the head is in; ``rfile`` streams the body with
  backpressure and ``wfile`` blocks while the client is slow (``_streams``);
* as a task on the loop, for ``async def do_<COMMAND>``, with the same streaming ``rfile``
  (``await self.rfile.aread()``) and ``await self.wfile.drain()``.

Whatever ran it, the response is completed on the loop once both the handler has returned
and the request body has been read to its end (unread body bytes are discarded, never
parsed as a request).  A handler that switches protocols takes the connection out of HTTP
(``_takeover``).  While a complete request waits (for a ``handle_request()`` turn, or for
the transport to drain) the connection stops reading (``_flow``), so a client cannot grow
the server's buffers without bound.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from typing import TYPE_CHECKING, Final, cast

from ._bridge import INLINE, THREAD, replay_bytes
from ._core import HTTPCore, Phase
from ._events import BodyData, EndOfRequest, RequestError, RequestHead
from ._exchange import Exchange
from ._flow import FlowControl
from ._pump import FilePump
from ._streams import READ_HIGH_WATER, BodyReader, ConnectionProxy, ResponseStream, ThreadedSink
from ._takeover import SocketTunnel, StreamTunnel, may_switch

if TYPE_CHECKING:
    from ._state import ServerState

__all__ = ["HTTPConnection"]

logger = logging.getLogger("aiohttpbase.error")

_ENDING: Final = Phase.MUST_CLOSE  # this phase and the ones after it: the connection is ending


class HTTPConnection(asyncio.Protocol):
    """Serves the requests of one client connection, in order."""

    __slots__ = (
        "_state",
        "_core",
        "_writer",
        "_loop",
        "_transport",
        "_flow",
        "_pump",
        "_proxy",
        "_peer",
        "_client_address",
        "_exchange",
        "_ready",
        "_pumping",
        "_keep_alive_after_pump",
        "_tunnel",
        "_waiting_since",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._transport: asyncio.Transport | None = None
        self._exchange: Exchange | None = None
        #: The exchange's handler may start once a ``handle_request`` turn allows it.
        self._ready = False
        self._pumping = False
        self._keep_alive_after_pump = False
        #: Set once a handler has taken over the connection (see ``_takeover``).
        self._tunnel: SocketTunnel | StreamTunnel | None = None

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        state = self._state
        self._transport = transport
        self._loop = loop = asyncio.get_running_loop()
        self._flow = FlowControl(transport, loop)
        self._waiting_since = loop.time()
        config = state.config
        self._core = core = HTTPCore(
            state.parser_class(config, config.max_body_bytes, state.head_cache), transport.write
        )
        core.draining = state.shutting_down
        self._writer = writer = core.writer
        writer.on_switch = self._switch
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername") or ("", 0)
        self._client_address = self._peer = peer
        tls = transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object")
        # Plain TCP: file bodies may go zero-copy.
        self._pump = FilePump(transport, writer, sock.fileno() if sock is not None and tls is None else -1)
        self._proxy = ConnectionProxy(sock, peer, self._close_after_response)
        try:
            allowed = state.server.verify_request(self._proxy, peer)
        except Exception:
            state.server.handle_error(self._proxy, peer)
            allowed = False
        if not allowed:
            self._close()
            return
        if config.limit_concurrency is not None and len(state.connections) >= config.limit_concurrency:
            self._refuse(RequestError(503, None, "Too many connections; try again shortly."))
            return
        state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.from_client(data)
            self._update_reading()
            return
        self._flow.last_data_at = self._loop.time()
        self._core.receive_data(data)
        self._process()  # which also bounds bytes piling up behind a running handler

    def eof_received(self) -> bool:
        if self._tunnel is not None:
            self._tunnel.client_eof()
            return True  # half-closed: the handler may still answer
        self._core.receive_eof()
        self._process()
        return True  # we close ourselves once every request received is answered

    def connection_lost(self, exc: Exception | None) -> None:
        self._core.lost()  # (and lets go of unparsed bytes at once)
        state = self._state
        state.connections.discard(self)
        if self in state.parked:
            state.parked.remove(self)
        if self._tunnel is not None:
            self._tunnel.client_lost()
        exchange = self._exchange
        if exchange is not None:
            # A handler still running learns it the way a socket would tell it.
            exchange.client_gone = True
            if exchange.reader is not None:
                exchange.reader.fail(ConnectionResetError("the client closed the connection"))
            if exchange.sink is not None:
                exchange.sink.fail(BrokenPipeError("the client closed the connection"))
            if not exchange.running:
                self._exchange = None
        # The connection refers to itself (bound methods held by its writer and proxy), so
        # only the cyclic collector would free it: let go of what is large now -- an
        # abandoned upload's buffered body -- instead of whenever it runs.
        if exchange is None or not exchange.running:
            self._proxy.rfile = self._proxy.wfile = _GONE
        self._flow.wake()
        self._writer.close_files()

    def pause_writing(self) -> None:
        self._flow.pause_writing()
        self._pump.paused = True
        self._tell_writable(False)
        self._update_reading()

    def resume_writing(self) -> None:
        self._flow.resume_writing()
        self._pump.paused = False
        self._tell_writable(True)
        if self._pumping:
            self._pump_files()
        self.resume()

    def _tell_writable(self, writable: bool) -> None:
        exchange = self._exchange
        if exchange is not None and exchange.sink is not None:
            exchange.sink.set_paused(not writable)
        if self._tunnel is not None:
            self._tunnel.client_writable(writable)

    # -- what the server asks (``_state.Connection``) ----------------------------------

    @property
    def idle(self) -> bool:
        """No request in progress and none partly received."""
        return self._exchange is None and self._core.idle

    @property
    def closing(self) -> bool:
        """The connection is closed or closing."""
        return self._core.closing

    def resume(self) -> None:
        """Continue after a pause (transport drained, or a ``handle_request`` turn)."""
        if not self._core.closing:
            self._process()
            self._update_reading()

    def close_when_idle(self) -> None:
        """Used by shutdown: close now if idle, else after the current response."""
        self._core.draining = True
        if self.idle and not self.closing:
            self._close()

    def abort(self) -> None:
        if self._transport is not None and self._core.phase is not Phase.CLOSED:
            self._core.end()
            self._transport.abort()

    def check_timeouts(self, now: float) -> None:
        """Enforce the read and send deadlines (called about once a second).

        Waiting for a request: ``timeout_keep_alive`` while no byte of it has arrived after
        an earlier response, else ``timeout_header`` for the whole head, counted from the
        end of the previous response (or the accept) -- bytes arriving do not extend it.
        Receiving a body: ``timeout_body`` of inactivity, not counted while reading is
        paused for the handler.  A paused transport (the client stopped reading):
        ``timeout_send``.  A taken-over connection has only the handler's own timeouts.
        """
        core = self._core
        if self._tunnel is not None or core.phase is Phase.CLOSED:
            return
        config = self._state.config
        flow = self._flow
        exchange = self._exchange
        if flow.write_paused and now - flow.paused_since > config.timeout_send:
            # (closing too: a closing transport still waits for its buffer to drain)
            logger.info("closing %s: it stopped reading the response", self._client_address)
            self.abort()
        elif core.closing:
            return
        elif exchange is None:
            idle = core.idle
            if idle and core.served and now - self._waiting_since > config.timeout_keep_alive:
                self._close()
            elif now - self._waiting_since > config.timeout_header:
                if idle:
                    self._close()
                else:
                    self._refuse(RequestError(408, None, "The request head did not arrive in time."))
        elif (
            not exchange.body_complete
            and not self._ready
            and not flow.reading_paused
            and now - flow.last_data_at > config.timeout_body
        ):
            if exchange.running:
                exchange.reader.fail(TimeoutError("timed out reading the request body"))
                exchange.must_close = True
            else:
                # _refuse answers 408 unless the handler's own answer has begun; that one
                # is ended as it is: one answer, never two.
                self._refuse(RequestError(408, None, "The request body did not arrive in time."))

    # -- flow control ----------------------------------------------------------------

    def _update_reading(self) -> None:
        if self._core.closing or self._transport is None or type(self._tunnel) is SocketTunnel:
            return  # (a socket tunnel's flow control is its own)
        exchange = self._exchange
        reader = exchange.reader if exchange is not None else None
        self._flow.set_read_paused(
            self._flow.write_paused
            or self._ready
            or (reader is not None and reader.buffered > READ_HIGH_WATER)
            # pipelined requests waiting behind a running handler
            or self._core.buffered_bytes > READ_HIGH_WATER
        )

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
        return self._proxy.gettimeout()

    def _close_after_response(self) -> None:
        """``self.connection.close()`` (or ``shutdown``) from a handler."""
        if self._exchange is not None:
            self._exchange.must_close = True

    # -- request cycle ---------------------------------------------------------------

    def _process(self) -> None:
        core = self._core
        while core.phase < _ENDING:
            if self._ready:
                exchange = self._exchange
                assert exchange is not None
                if (self._flow.write_paused and exchange.mode == INLINE) or not self._state.may_dispatch(
                    self
                ):
                    self._update_reading()
                    return
                self._ready = False
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
                self._refuse(event)  # type: ignore[arg-type]
                return
            else:  # NEED_DATA
                if core.peer_eof and self.idle:
                    self._close()  # the client half-closed and has been answered
                else:
                    self._update_reading()
                return

    def _start_request(self, head: RequestHead) -> None:
        state = self._state
        if state.proxy_trust is not None:
            self._client_address = state.proxy_trust.client_address(self._peer, head.headers)
        mode = state.bridge.mode_for(head.method)
        switchable = may_switch(head.method, head.connection)
        if mode == INLINE and switchable:
            mode = THREAD  # it may take the connection over and block in a relay loop
        buffered = mode == INLINE or (
            # A chunked body is read whole first, so that the handler sees Content-Length.
            mode == THREAD
            and head.content_length is None
            and state.config.buffer_chunked_body
            and not switchable
        )
        exchange = self._exchange = Exchange(
            head, mode, switchable, buffered, self._loop.time(), self._client_address
        )
        proxy = self._proxy
        proxy.access_logged = False
        if mode == THREAD:
            exchange.sink = ThreadedSink(self._loop, self._deliver, self._timeout, in_step=switchable)
            exchange.sink.set_paused(self._flow.write_paused)
        if buffered:
            self._start_buffered(exchange)
            return
        prefix = b"" if state.bridge.direct else replay_bytes(head, drop_expect=False)
        reader = BodyReader(state.loop_thread, self._reader_drained, self._timeout, prefix)
        if not head.has_body:
            reader.feed_eof()
        proxy.rfile = exchange.reader = reader
        proxy.wfile = (
            ResponseStream(exchange.sink)
            if mode == THREAD
            else ResponseStream(self._writer, self._wait_writable)
        )
        self._ready = True  # dispatched right away, while the body streams in

    def _start_buffered(self, exchange: Exchange) -> None:
        """Make the handler now (settling ``Expect``); it runs once the body is in."""
        # A declared length over the buffer limit is refused before any body byte is read;
        # chunked bodies are counted as they arrive (_on_body).
        length = exchange.head.content_length
        if length is not None and length > self._state.config.max_buffered_body_bytes:
            self._refuse(RequestError(413))
            return
        proxy = self._proxy
        proxy.rfile = exchange.body = io.BytesIO()
        proxy.wfile = ResponseStream(self._writer)
        try:
            exchange.handler, exchange.dispatch_ok = self._state.bridge.prepare(
                exchange.head, proxy, self._client_address
            )
            exchange.prepared = True
        except Exception:
            self._state.server.handle_error(proxy, self._client_address)
            exchange.dispatch_ok = False
            exchange.must_close = True
            self._answer_failure()
        if not exchange.dispatch_ok:
            # Refused by handle_expect_100 (or it failed): the answer is already written
            # and the client may never send the body, so do not wait for it.
            self._complete_request()

    def _on_body(self, data: bytes) -> None:
        exchange = self._exchange
        assert exchange is not None
        if not exchange.buffered:
            exchange.reader.feed(data)
            if exchange.reader.buffered > READ_HIGH_WATER:
                self._update_reading()
        elif not exchange.take_body(data, self._state.config.max_buffered_body_bytes):
            self._refuse(RequestError(413))

    def _on_end_of_body(self) -> None:
        exchange = self._exchange
        assert exchange is not None
        exchange.body_complete = True
        if exchange.buffered:
            if exchange.head.content_length is None or exchange.mode != INLINE:
                wfile = ResponseStream(exchange.sink) if exchange.mode == THREAD else self._proxy.wfile
                exchange.hand_over_body(self._proxy, wfile)
            self._ready = True
            return
        exchange.reader.feed_eof()
        if not exchange.running and not self._ready:
            self._complete_request()  # the handler returned before the body's end

    def _dispatch(self, exchange: Exchange) -> None:
        state = self._state
        if exchange.mode == THREAD:
            limit = state.config.max_queued_requests
            if limit is not None and state.pool.waiting >= limit:
                state.request_finished()
                self._refuse(RequestError(503, None, "Every handler thread is busy; try again shortly."))
                return
        exchange.running = True
        state.runners[exchange.mode].start(exchange, self._proxy, self._handler_done)

    def _handler_done(self, failure: BaseException | None) -> None:
        """On the loop: the exchange's handler code has returned (``failure``: what it raised)."""
        exchange = self._exchange
        assert exchange is not None
        exchange.running = False
        if self._tunnel is not None:
            self._tunnel.handler_done()
            self._notify_done()
            self._finish_cycle()
            return
        if self._core.closing:
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
                self._process()  # requests that arrived meanwhile, or the close after a half-close
        else:
            exchange.reader.discard()  # the rest of the body is read and dropped
            self._writer.flush()  # the answer goes now; its framing ends with the body
            self._update_reading()

    def _switch(self) -> bool:
        """The handler sent a switching head (``ResponseWriter.on_switch``): hand it the
        connection if the core agrees (``HTTPCore.switch``); else the response is
        delimited by closing, as any other."""
        exchange = self._exchange
        transport = self._transport
        if exchange is None or transport is None or exchange.mode == INLINE:
            return False
        received = self._core.switch(exchange.head)
        if received is None:
            return False
        if exchange.mode == THREAD:
            self._tunnel = SocketTunnel(transport, self._proxy, received)
        else:
            wfile = self._proxy.wfile
            assert isinstance(wfile, ResponseStream)
            self._tunnel = StreamTunnel(transport, exchange.reader, wfile, self._wait_writable, received)
        return True

    def _deliver(self, data: bytes) -> None:
        """Loop side of ``ThreadedSink``: one write of a worker thread."""
        if not self._core.closing:
            self._writer.write(data)
            self._writer.flush()

    def _complete_request(self) -> None:
        """End the response, then go on with the next request or close."""
        exchange = self._exchange
        assert exchange is not None
        keep_alive = self._core.finish_response(exchange)
        if self._writer.next_file() is not None:
            self._pumping = True
            self._keep_alive_after_pump = keep_alive
            self._pump_files()
            return
        self._after_response(keep_alive)

    def _pump_files(self) -> None:
        """Send queued file segments at the client's pace; then finish the response."""
        pump = self._pump
        if pump.pump():
            self._pumping = False
            self._after_response(self._keep_alive_after_pump and not pump.short)
            pump.short = False

    def _after_response(self, keep_alive: bool) -> None:
        if self._state.request_done:
            self._notify_done()
        self._finish_cycle()
        self._core.next_request(keep_alive)
        if keep_alive:
            # Reading resumes (if it was paused) in _process, which every caller runs next.
            self._waiting_since = self._loop.time()
        else:
            self._transport.close()  # type: ignore[union-attr]

    def _notify_done(self) -> None:
        """Tell the server's listeners (the access log) that a response is complete."""
        exchange = self._exchange
        assert exchange is not None
        writer = self._writer
        logged = self._proxy.access_logged
        for listener in self._state.request_done:
            listener(exchange, writer.status, writer.body_bytes, logged)

    def _finish_cycle(self) -> None:
        self._exchange = None
        self._state.request_finished()

    def _close(self) -> None:
        if self._core.phase is not Phase.CLOSED:
            self._core.end()
            self._transport.close()  # type: ignore[union-attr]

    def _answer_failure(self, refusal: RequestError | None = None) -> None:
        """A handler failed: answer 500 -- or, if its body turned out malformed while it
        streamed, the refusal ``HTTPServer`` gives -- unless its response has begun."""
        if refusal is not None and not refusal.status:
            return  # the client left mid-body: nobody to answer
        if self._writer.discard_unsent():
            if refusal is None:
                exchange = self._exchange
                self._send_error_page(RequestError(500), exchange.head if exchange else None)
            else:
                self._send_error_page(refusal)

    def _refuse(self, error: RequestError) -> None:
        """Answer a request the parser refused, then close the connection."""
        exchange = self._exchange
        if exchange is not None and exchange.running:
            # A handler is streaming this request: it sees the body end badly.
            exchange.reader.fail(ConnectionResetError(f"bad request body: {error.explain or error.status}"))
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
            self._send_error_page(error)
            writer.finish()
        self._exchange = None
        self._ready = False
        self._close()

    def _send_error_page(self, error: RequestError, head: RequestHead | None = None) -> None:
        """Write the handler class's error page for ``error`` (``send_error``'s page)."""
        self._proxy.wfile = ResponseStream(self._writer)
        try:
            self._state.bridge.send_error_page(
                self._proxy, self._client_address, error.status, error.message, error.explain, head=head
            )
        except Exception:
            logger.exception("error page failed")


_GONE: Final = io.BytesIO()  # the streams of a connection that is gone
