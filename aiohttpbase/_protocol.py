"""One ``asyncio.Protocol`` per client connection.

Theory of operation: bytes from the transport go to the request parser; its events drive
one ``Exchange`` (a request and its response) at a time through the connection's phases
(``_exchange.TRANSITIONS``); a runner (``_runners``) runs the handler code; what the
handler writes is framed by the ``ResponseWriter`` onto the transport.  Handler code runs
in one of three ways (``HandlerBridge.mode_for``):

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
(``_takeover``).

Pipelining: the parser hands out the next request only after the current response is
finished, so responses go out in request order; while a complete request waits (for a
``handle_request()`` turn, or for the transport to drain) the connection stops reading,
so a client cannot grow the server's buffers without bound.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
import threading
from typing import TYPE_CHECKING, Final, cast

from ._bridge import INLINE, THREAD, replay_bytes
from ._events import BodyData, EndOfRequest, RequestError, RequestHead
from ._exchange import TRANSITIONS, Exchange, Phase, Step, advance, keep_alive_after
from ._pump import FilePump
from ._response import ResponseWriter
from ._streams import READ_HIGH_WATER, BodyReader, ConnectionProxy, ResponseStream, ThreadedSink
from ._takeover import SocketTunnel, StreamTunnel, may_switch

if TYPE_CHECKING:
    from ._state import ServerState

__all__ = ["HTTPConnection"]

logger = logging.getLogger("aiohttpbase.error")

#: A chunked body read whole before its handler runs moves from memory to a temporary
#: file once it is larger than this.
SPOOL_BYTES: Final = 1 << 20

_ENDING: Final = Phase.MUST_CLOSE  # this phase and the ones after it: the connection is ending

# The steps of every request, looked up in the table directly (``advance`` does the same
# with a clearer error, for the rare steps): a KeyError here is a step the table forbids.
_next_phase: Final = TRANSITIONS.__getitem__
_REQUEST: Final = Step.REQUEST
_BODY_END: Final = Step.BODY_END
_RESPONSE_END: Final = Step.RESPONSE_END
_NEXT: Final = Step.NEXT


class HTTPConnection(asyncio.Protocol):
    """Serves the requests of one client connection, in order."""

    __slots__ = (
        "_state",
        "_bridge",
        "_runners",
        "_loop",
        "_transport",
        "_parser",
        "_writer",
        "_pump",
        "_proxy",
        "_peer",
        "_client_address",
        "_phase",
        "_exchange",
        "_ready",
        "_write_paused",
        "_reading_paused",
        "_peer_eof",
        "_pumping",
        "_keep_alive_after_pump",
        "_drain_waiter",
        "_tunnel",
        "_served",
        "_waiting_since",
        "_last_data_at",
        "_paused_since",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._bridge = state.bridge
        self._runners = state.runners
        self._transport: asyncio.Transport | None = None
        self._parser = state.parser_class(state.config, state.config.max_body_bytes, state.head_cache)
        self._phase = Phase.IDLE
        self._exchange: Exchange | None = None
        #: The exchange's handler may start once a ``handle_request`` turn allows it.
        self._ready = False
        self._write_paused = False
        self._reading_paused = False
        self._peer_eof = False
        self._pumping = False
        self._keep_alive_after_pump = False
        self._drain_waiter: asyncio.Future[None] | None = None
        #: Set once a handler has taken over the connection (see ``_takeover``).
        self._tunnel: SocketTunnel | StreamTunnel | None = None
        # Timeout bookkeeping, read by check_timeouts.
        self._served = 0
        self._waiting_since = 0.0
        self._last_data_at = 0.0
        self._paused_since = 0.0

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._waiting_since = self._last_data_at = self._loop.time()
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername") or ("", 0)
        self._client_address = self._peer = peer
        tls = transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object")
        # Plain TCP: file bodies may go zero-copy.
        socket_fd = sock.fileno() if sock is not None and tls is None else -1
        self._writer = writer = ResponseWriter(transport.write)
        writer.on_switch = self._switch
        self._pump = FilePump(transport, writer, socket_fd)
        self._proxy = ConnectionProxy(sock, peer, self._close_after_response)
        server = self._state.server
        try:
            allowed = server.verify_request(self._proxy, peer)
        except Exception:
            server.handle_error(self._proxy, peer)
            allowed = False
        if not allowed:
            self._phase = advance(self._phase, Step.END)
            transport.close()
            return
        limit = self._state.config.limit_concurrency
        if limit is not None and len(self._state.connections) >= limit:
            self._refuse(RequestError(503, None, "Too many connections; try again shortly."))
            return
        self._state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.from_client(data)
            self._update_reading()
            return
        if self._phase is Phase.IDLE:
            self._phase = Phase.HEAD  # (IDLE, DATA) in the table, without the lookup
        self._last_data_at = self._loop.time()
        self._parser.feed(data)
        self._process()  # which also bounds bytes piling up behind a running handler

    def eof_received(self) -> bool:
        if self._tunnel is not None:
            self._tunnel.client_eof()
            return True  # half-closed: the handler may still answer
        self._peer_eof = True
        self._parser.feed_eof()
        self._process()
        return True  # we close ourselves once every request received is answered

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = advance(self._phase, Step.LOST)
        self._state.connections.discard(self)
        if self in self._state.parked:
            self._state.parked.remove(self)
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
        # abandoned upload's buffered body, unparsed bytes -- instead of whenever it runs.
        self._parser.close()
        if exchange is None or not exchange.running:
            self._proxy.rfile = self._proxy.wfile = _GONE
        self._wake_drain()
        self._writer.close_files()

    def pause_writing(self) -> None:
        self._write_paused = self._pump.paused = True
        self._paused_since = self._loop.time()
        exchange = self._exchange
        if exchange is not None and exchange.sink is not None:
            exchange.sink.set_paused(True)
        if self._tunnel is not None:
            self._tunnel.client_writable(False)
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = self._pump.paused = False
        exchange = self._exchange
        if exchange is not None and exchange.sink is not None:
            exchange.sink.set_paused(False)
        if self._tunnel is not None:
            self._tunnel.client_writable(True)
        self._wake_drain()
        if self._pumping:
            self._pump_files()
        self.resume()

    # -- what the server asks --------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No request in progress and none partly received."""
        return self._exchange is None and self._parser.idle

    @property
    def closing(self) -> bool:
        """The connection is closed or closing."""
        return self._phase >= _ENDING

    def resume(self) -> None:
        """Continue after a pause (transport drained, or a ``handle_request`` turn)."""
        if self._phase < _ENDING:
            self._process()
            self._update_reading()

    def close_when_idle(self) -> None:
        """Used by shutdown: close now if idle, else after the current response (the
        server's ``shutting_down`` tells ``keep_alive_after``)."""
        if self.idle and not self.closing:
            self._close()

    def abort(self) -> None:
        if self._transport is not None and self._phase is not Phase.CLOSED:
            self._phase = advance(self._phase, Step.END)
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
        if self._tunnel is not None or self._phase is Phase.CLOSED:
            return  # a taken-over connection has only the handler's own timeouts
        config = self._state.config
        exchange = self._exchange
        if self._write_paused and now - self._paused_since > config.timeout_send:
            # (closing too: a closing transport still waits for its buffer to drain)
            logger.info("closing %s: it stopped reading the response", self._client_address)
            self.abort()
        elif self.closing:
            return
        elif exchange is None:
            idle = self._parser.idle
            if idle and self._served and now - self._waiting_since > config.timeout_keep_alive:
                self._close()
            elif now - self._waiting_since > config.timeout_header:
                if idle:
                    self._close()
                else:
                    self._refuse(RequestError(408, None, "The request head did not arrive in time."))
        elif (
            not exchange.body_complete
            and not self._ready
            and not self._reading_paused
            and now - self._last_data_at > config.timeout_body
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
        if self._phase >= _ENDING or self._transport is None or type(self._tunnel) is SocketTunnel:
            return  # (a socket tunnel's flow control is its own)
        exchange = self._exchange
        reader = exchange.reader if exchange is not None else None
        pause = (
            self._write_paused
            or self._ready
            or (reader is not None and reader.buffered > READ_HIGH_WATER)
            # pipelined requests waiting behind a running handler
            or self._parser.buffered_bytes > READ_HIGH_WATER
        )
        if pause != self._reading_paused:  # the transport is told only about changes
            self._reading_paused = pause
            if pause:
                self._transport.pause_reading()
            else:
                self._last_data_at = self._loop.time()  # the body timeout counts from now
                self._transport.resume_reading()

    def _reader_drained(self) -> None:
        """Called by a ``BodyReader`` (any thread) once its buffer ran low."""
        if threading.get_ident() == self._state.loop_thread:
            self._update_reading()
        else:
            self._loop.call_soon_threadsafe(self._update_reading)

    async def _wait_writable(self) -> None:
        """``wfile.drain()`` of async handlers: wait while the transport is paused, at most
        the handler's ``timeout`` (``TimeoutError``, as a socket's send would raise)."""
        while self._write_paused and not self.closing:
            waiter = self._drain_waiter
            if waiter is None or waiter.done():
                waiter = self._drain_waiter = self._loop.create_future()
            # Shared by every task draining this connection; shielded, so that one that is
            # cancelled (or times out) does not cancel the others' wait.
            timeout = self._timeout()
            try:
                await asyncio.shield(waiter) if timeout is None else await asyncio.wait_for(
                    asyncio.shield(waiter), timeout
                )
            except asyncio.TimeoutError:
                raise TimeoutError("timed out sending the response: the client stopped reading") from None
        if self.closing:
            raise BrokenPipeError("the client closed the connection")

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None

    def _timeout(self) -> float | None:
        return self._proxy.gettimeout()

    def _close_after_response(self) -> None:
        """``self.connection.close()`` (or ``shutdown``) from a handler."""
        if self._exchange is not None:
            self._exchange.must_close = True

    # -- request cycle ---------------------------------------------------------------

    def _process(self) -> None:
        parser = self._parser
        while self._phase < _ENDING:
            if self._ready:
                exchange = self._exchange
                assert exchange is not None
                if (self._write_paused and exchange.mode == INLINE) or not self._state.may_dispatch(self):
                    self._update_reading()
                    return
                self._ready = False
                self._dispatch(exchange)
                continue
            event = parser.next_event()
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
                if self._peer_eof and self.idle:
                    self._close()  # the client half-closed and has been answered
                else:
                    self._update_reading()
                return

    def _start_request(self, head: RequestHead) -> None:
        self._phase = _next_phase((self._phase, _REQUEST))
        state = self._state
        if state.proxy_trust is not None:
            self._client_address = state.proxy_trust.client_address(self._peer, head.headers)
        mode = self._bridge.mode_for(head.method)
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
        writer = self._writer
        # During a graceful shutdown the response announces that the connection will close.
        writer.start(head.method, head.version, head.keep_alive and not state.shutting_down)
        proxy = self._proxy
        proxy.access_logged = False
        if buffered:
            # A declared length over the buffer limit is refused before any body byte is
            # read; chunked bodies are counted as they arrive (_on_body).
            length = head.content_length
            if length is not None and length > state.config.max_buffered_body_bytes:
                self._refuse(RequestError(413))
                return
            proxy.rfile = exchange.body = io.BytesIO()
            proxy.wfile = ResponseStream(writer)
            if mode == THREAD:
                exchange.sink = ThreadedSink(self._loop, self._deliver, self._timeout)
                exchange.sink.set_paused(self._write_paused)
            try:
                exchange.handler, exchange.dispatch_ok = self._bridge.prepare(
                    head, proxy, self._client_address
                )
                exchange.prepared = True
            except Exception:
                state.server.handle_error(proxy, self._client_address)
                exchange.dispatch_ok = False
                exchange.must_close = True
                self._answer_failure()
            if not exchange.dispatch_ok:
                # Refused by handle_expect_100 (or it failed): the answer is already written
                # and the client may never send the body, so do not wait for it.
                self._complete_request()
            return
        prefix = b"" if self._bridge.direct else replay_bytes(head, drop_expect=False)
        reader = BodyReader(state.loop_thread, self._reader_drained, self._timeout, prefix)
        if not head.has_body:
            reader.feed_eof()
        proxy.rfile = exchange.reader = reader
        if mode == THREAD:
            sink = exchange.sink = ThreadedSink(self._loop, self._deliver, self._timeout, in_step=switchable)
            sink.set_paused(self._write_paused)
            proxy.wfile = ResponseStream(sink)
        else:
            proxy.wfile = ResponseStream(writer, self._wait_writable)
        self._ready = True  # dispatched right away, while the body streams in

    def _on_body(self, data: bytes) -> None:
        exchange = self._exchange
        assert exchange is not None
        if exchange.buffered:
            body = exchange.body
            size = body.tell() + len(data)
            if size > self._state.config.max_buffered_body_bytes:
                self._refuse(RequestError(413))
                return
            if size > SPOOL_BYTES and type(body) is io.BytesIO and exchange.head.content_length is None:
                spilled = tempfile.TemporaryFile()  # noqa: SIM115 (closed with rfile, or with the exchange)
                spilled.write(body.getbuffer())
                exchange.body = body = spilled
            body.write(data)
        else:
            exchange.reader.feed(data)
            if exchange.reader.buffered > READ_HIGH_WATER:
                self._update_reading()

    def _on_end_of_body(self) -> None:
        exchange = self._exchange
        assert exchange is not None
        exchange.body_complete = True
        self._phase = _next_phase((self._phase, _BODY_END))
        if exchange.buffered:
            if exchange.head.content_length is None or exchange.mode != INLINE:
                self._hand_over_body(exchange)
            self._ready = True
            return
        exchange.reader.feed_eof()
        if not exchange.running and not self._ready:
            self._complete_request()  # the handler returned before the body's end

    def _hand_over_body(self, exchange: Exchange) -> None:
        """A body read whole becomes the handler's ``rfile``; a decoded chunked one is
        announced by Content-Length instead of Transfer-Encoding (trailers are dropped),
        as nginx does for the stdlib's handlers."""
        body = exchange.body
        length = body.tell()
        body.seek(0)
        proxy = self._proxy
        proxy.rfile = body
        handler = exchange.handler
        if exchange.mode == THREAD:
            proxy.wfile = ResponseStream(exchange.sink)
        if handler is not None:
            handler.rfile = body
            handler.wfile = proxy.wfile
            if exchange.head.content_length is None:
                headers = handler.headers
                del headers["Transfer-Encoding"]
                headers["Content-Length"] = str(length)

    def _dispatch(self, exchange: Exchange) -> None:
        runner = self._runners[exchange.mode]
        if exchange.mode == THREAD:
            limit = self._state.config.max_queued_requests
            if limit is not None and self._state.pool.waiting >= limit:
                self._state.request_finished()
                self._refuse(RequestError(503, None, "Every handler thread is busy; try again shortly."))
                return
        exchange.running = True
        runner.start(exchange, self._proxy, self._handler_done)

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
        if self._phase >= _ENDING:
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
            or self._peer_eof
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
        connection if the request asked for that and is complete; else the response is
        delimited by closing, as any other."""
        exchange = self._exchange
        transport = self._transport
        if exchange is None or transport is None or exchange.mode == INLINE or not exchange.body_complete:
            return False
        head = exchange.head
        if head.method != "CONNECT" and (
            # RFC 9110 section 15.2.2: a 101 only to a request that asked; section 7.8: an
            # Upgrade on an HTTP/1.0 request is ignored.
            head.version != "HTTP/1.1" or not any(name.lower() == "upgrade" for name, _ in head.headers)
        ):
            return False
        self._phase = advance(self._phase, Step.SWITCH)
        received = self._parser.take_buffered()
        self._parser.close()
        if exchange.mode == THREAD:
            self._tunnel = SocketTunnel(transport, self._proxy, received)
        else:
            wfile = self._proxy.wfile
            assert isinstance(wfile, ResponseStream)
            self._tunnel = StreamTunnel(transport, exchange.reader, wfile, self._wait_writable, received)
        return True

    def _deliver(self, data: bytes) -> None:
        """Loop side of ``ThreadedSink``: one write of a worker thread."""
        if self._phase < _ENDING:
            self._writer.write(data)
            self._writer.flush()

    def _complete_request(self) -> None:
        """End the response, then go on with the next request or close."""
        exchange = self._exchange
        assert exchange is not None
        keep_alive = keep_alive_after(exchange, self._writer.finish(), self._state.shutting_down)
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
        self._served += 1
        self._phase = _next_phase((self._phase, _RESPONSE_END))
        if keep_alive:
            self._phase = _next_phase((self._phase, _NEXT))
            self._waiting_since = self._loop.time()
            # Reading resumes (if it was paused) in _process, which every caller runs next.
            self._parser.start_next_request()
        else:
            self._close(Step.CLOSE)

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

    def _close(self, step: Step = Step.END) -> None:
        if self._phase is Phase.CLOSED:
            return
        self._phase = advance(self._phase, step)
        assert self._transport is not None
        self._transport.close()

    def _answer_failure(self, refusal: RequestError | None = None) -> None:
        """A handler failed: answer 500 -- or, if its body turned out malformed while it
        streamed, the refusal ``HTTPServer`` gives -- unless its response has begun."""
        exchange = self._exchange
        if refusal is not None and not refusal.status:
            return  # the client left mid-body: nobody to answer
        if self._writer.discard_unsent():
            self._proxy.wfile = ResponseStream(self._writer)
            try:
                if refusal is None:
                    self._bridge.send_error_page(
                        self._proxy, self._client_address, 500, head=exchange.head if exchange else None
                    )
                else:
                    self._bridge.send_error_page(
                        self._proxy, self._client_address, refusal.status, refusal.message, refusal.explain
                    )
            except Exception:
                logger.exception("error page failed")

    def _refuse(self, error: RequestError) -> None:
        """Answer a request the parser refused, then close the connection."""
        exchange = self._exchange
        if exchange is not None and exchange.running:
            # A handler is streaming this request: it sees the body end badly.
            exchange.reader.fail(ConnectionResetError(f"bad request body: {error.explain or error.status}"))
            exchange.must_close = True
            exchange.refusal = error
            self._parser.close()  # never parse another byte of this connection
            self._reading_paused = True
            self._transport.pause_reading()  # type: ignore[union-attr]
            return
        if exchange is not None and self._writer.begun:
            self._writer.finish()  # the handler answered already: its answer is the only one
        elif error.status:
            head = exchange.head if exchange is not None else None
            writer = self._writer
            writer.start(head.method if head else "GET", "HTTP/1.1", False)
            self._proxy.wfile = ResponseStream(writer)
            try:
                self._bridge.send_error_page(
                    self._proxy, self._client_address, error.status, error.message, error.explain
                )
            except Exception:
                logger.exception("error page failed")
            writer.finish()
        self._exchange = None
        self._ready = False
        self._close()


_GONE: Final = io.BytesIO()  # the streams of a connection that is gone
