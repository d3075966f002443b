"""One ``asyncio.Protocol`` per client connection.

Theory of operation: bytes from the transport go to the request parser; its events drive
one request at a time through the handler bridge; what the handler writes is framed by
the ``ResponseWriter`` onto the transport.  A request's handler code runs in one of three
ways (``HandlerBridge.mode_for``):

* inline, on the loop (``HTTPServer``): the body is buffered (bounded, 413 above the limit)
  before ``do_<COMMAND>`` is called, so blocking ``rfile`` reads are memory reads;
* on a worker thread (``ThreadingHTTPServer``): dispatched as soon as the head is in;
  ``rfile`` streams the body with backpressure and ``wfile`` blocks while the client is
  slow (``_streams.BodyReader``, ``_streams.ThreadedSink``);
* as a task on the loop, for ``async def do_<COMMAND>``, with the same streaming ``rfile``
  (``await self.rfile.aread()``) and ``await self.wfile.drain()``.

Whatever ran it, the response is completed on the loop once both the handler has returned
and the request body has been read to its end (unread body bytes are discarded, never
parsed as a request).

Pipelining: the parser hands out the next request only after the current response is
finished, so responses go out in request order; while a complete request waits (for a
``handle_request()`` turn, or for the transport to drain) the connection stops reading,
so a client cannot grow the server's buffers without bound.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Final, cast

from ._bridge import INLINE, THREAD, replay_bytes
from ._events import NEED_DATA, BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from ._response import ResponseWriter
from ._streams import READ_HIGH_WATER, BodyReader, ConnectionProxy, ResponseStream, ThreadedSink
from ._takeover import SocketTunnel, StreamTunnel, may_switch
from .logs import RequestFacts

if TYPE_CHECKING:
    from ._state import ServerState

__all__ = ["HTTPConnection"]

logger = logging.getLogger("aiohttpbase.error")


class HTTPConnection(asyncio.Protocol):
    """Serves the requests of one client connection, in order."""

    __slots__ = (
        "_state",
        "_bridge",
        "_loop",
        "_transport",
        "_parser",
        "_writer",
        "_proxy",
        "_client_address",
        "_head",
        "_mode",
        "_handler",
        "_dispatch_ok",
        "_body",
        "_reader",
        "_sink",
        "_ready",
        "_running",
        "_body_complete",
        "_write_paused",
        "_drain_waiter",
        "_closing",
        "_must_close",
        "_served",
        "_waiting_since",
        "_last_data_at",
        "_paused_since",
        "_socket_fd",
        "_pumping",
        "_keep_alive_after_pump",
        "_started_at",
        "_peer",
        "_reading_paused",
        "_peer_eof",
        "_tunnel",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._bridge = state.bridge
        self._transport: asyncio.Transport | None = None
        self._parser = state.parser_class(state.config, state.config.max_body_bytes, state.head_cache)
        self._head: RequestHead | None = None
        self._mode = INLINE
        self._handler: Any = None
        self._dispatch_ok = True
        self._body = io.BytesIO()
        self._reader: BodyReader | None = None
        self._sink: ThreadedSink | None = None
        self._ready = False
        self._running = False
        self._body_complete = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closing = False
        self._must_close = False
        # Timeout bookkeeping, read by ServerState.sweep (see check_timeouts).
        self._served = 0
        self._waiting_since = 0.0
        self._last_data_at = 0.0
        self._paused_since = 0.0
        self._socket_fd = -1
        self._pumping = False
        self._keep_alive_after_pump = False
        self._started_at = 0.0
        self._reading_paused = False
        self._peer_eof = False
        #: Set once a handler has taken over the connection (see ``_takeover``).
        self._tunnel: SocketTunnel | StreamTunnel | None = None

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
        if sock is not None and tls is None:
            self._socket_fd = sock.fileno()  # plain TCP: file bodies may go zero-copy
        self._writer = ResponseWriter(transport.write)
        self._writer.on_switch = self._switch
        self._proxy = ConnectionProxy(sock, peer, self._close_after_response)
        server = self._state.server
        try:
            allowed = server.verify_request(self._proxy, peer)
        except Exception:
            server.handle_error(self._proxy, peer)
            allowed = False
        if not allowed:
            self._closing = True
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
        self._closing = True
        self._state.connections.discard(self)
        if self in self._state.parked:
            self._state.parked.remove(self)
        if self._tunnel is not None:
            self._tunnel.client_lost()
        # A handler still running learns it the way a socket would tell it.
        if self._reader is not None:
            self._reader.fail(ConnectionResetError("the client closed the connection"))
        if self._sink is not None:
            self._sink.fail(BrokenPipeError("the client closed the connection"))
        self._wake_drain()
        self._writer.close_files()
        if not self._running:
            self._handler = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._paused_since = self._loop.time()
        if self._sink is not None:
            self._sink.set_paused(True)
        if self._tunnel is not None:
            self._tunnel.client_writable(False)
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._sink is not None:
            self._sink.set_paused(False)
        if self._tunnel is not None:
            self._tunnel.client_writable(True)
        self._wake_drain()
        if self._pumping:
            self._pump_files()
        self.resume()

    # -- state -----------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No request in progress and none partly received."""
        return self._head is None and not self._ready and self._parser.idle

    @property
    def closing(self) -> bool:
        """The connection is closed or closing."""
        return self._closing

    def resume(self) -> None:
        """Continue after a pause (transport drained, or a ``handle_request`` turn)."""
        if not self._closing:
            self._process()
            self._update_reading()

    def close_when_idle(self) -> None:
        """Used by shutdown: close now if idle, else after the current response."""
        self._must_close = True
        if self.idle and not self._closing:
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._closing = True
            self._transport.abort()

    def _close(self) -> None:
        self._closing = True
        assert self._transport is not None
        self._transport.close()

    def check_timeouts(self, now: float) -> None:
        """Enforce the read and send deadlines (called about once a second).

        Waiting for a request: ``timeout_keep_alive`` while no byte of it has arrived after
        an earlier response, else ``timeout_header`` for the whole head, counted from the
        end of the previous response (or the accept) -- bytes arriving do not extend it.
        Receiving a body: ``timeout_body`` of inactivity.  A paused transport (the client
        stopped reading): ``timeout_send``.
        """
        if self._closing or self._tunnel is not None:
            return  # a taken-over connection has only the handler's own timeouts
        config = self._state.config
        if self._write_paused and now - self._paused_since > config.timeout_send:
            logger.info("closing %s: it stopped reading the response", self._client_address)
            self.abort()
        elif self._head is None and not self._ready:
            idle = self._parser.idle
            if idle and self._served and now - self._waiting_since > config.timeout_keep_alive:
                self._close()
            elif now - self._waiting_since > config.timeout_header:
                if idle:
                    self._close()
                else:
                    self._refuse(RequestError(408, None, "The request head did not arrive in time."))
        elif (
            not self._body_complete
            and not self._ready
            # Paused because the handler has not taken what arrived: not the client's delay.
            and not self._reading_paused
            and now - self._last_data_at > config.timeout_body
        ):
            if self._running:
                assert self._reader is not None
                self._reader.fail(TimeoutError("timed out reading the request body"))
                self._must_close = True
            elif not self._writer.transmitted:
                self._refuse(RequestError(408, None, "The request body did not arrive in time."))
            else:
                self._close()

    def _close_after_response(self) -> None:
        self._must_close = True

    def _update_reading(self) -> None:
        if self._closing or self._transport is None or type(self._tunnel) is SocketTunnel:
            return  # (a socket tunnel's flow control is its own)
        reader = self._reader
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
        """``wfile.drain()`` of async handlers: wait while the transport is paused."""
        while self._write_paused and not self._closing:
            self._drain_waiter = self._loop.create_future()
            await self._drain_waiter
        if self._closing:
            raise BrokenPipeError("the client closed the connection")

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None

    def _timeout(self) -> float | None:
        return self._proxy.gettimeout()

    # -- request cycle ---------------------------------------------------------------

    def _process(self) -> None:
        parser = self._parser
        while not self._closing:
            if self._ready:
                if (self._write_paused and self._mode == INLINE) or not self._state.may_dispatch(self):
                    self._update_reading()
                    return
                self._ready = False
                self._dispatch()
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
        self._head = head
        self._started_at = self._loop.time()
        self._proxy.access_logged = False
        if self._state.proxy_trust is not None:
            self._client_address = self._state.proxy_trust.client_address(self._peer, head.headers)
        self._mode = mode = self._bridge.mode_for(head.method)
        switchable = may_switch(head.method, head.connection)
        if mode == INLINE and switchable:
            # It may take over the connection and then block in a relay loop: a thread.
            self._mode = mode = THREAD
        self._body_complete = False
        self._dispatch_ok = True
        self._handler = None
        writer = self._writer
        # During a graceful shutdown the response announces that the connection will close.
        writer.start(head.method, head.version, head.keep_alive and not self._state.shutting_down)
        proxy = self._proxy
        if mode == INLINE:
            # A declared length over the buffer limit is refused before any body byte is
            # read; chunked bodies are counted as they arrive (_on_body).
            length = head.content_length
            if length is not None and length > self._state.config.max_buffered_body_bytes:
                self._refuse(RequestError(413))
                return
            body = self._body = io.BytesIO()
            proxy.rfile = body
            proxy.wfile = ResponseStream(writer)
            try:
                self._handler, self._dispatch_ok = self._bridge.prepare(head, proxy, self._client_address)
            except Exception:
                self._handler_failed()
            if not self._dispatch_ok:
                # Refused by handle_expect_100 (or it failed): the answer is already written
                # and the client may never send the body, so do not wait for it.
                self._complete_request()
            return
        prefix = b"" if self._bridge.direct else replay_bytes(head, drop_expect=False)
        reader = BodyReader(self._state.loop_thread, self._reader_drained, self._timeout, prefix)
        if not head.has_body:
            reader.feed_eof()
        self._reader = reader
        proxy.rfile = reader
        if mode == THREAD:
            self._sink = ThreadedSink(self._loop, self._deliver, self._timeout, in_step=switchable)
            self._sink.set_paused(self._write_paused)
            proxy.wfile = ResponseStream(self._sink)
        else:
            proxy.wfile = ResponseStream(writer, self._wait_writable)
        self._ready = True  # dispatched right away, while the body streams in

    def _on_body(self, data: bytes) -> None:
        if self._mode == INLINE:
            if self._body.tell() + len(data) > self._state.config.max_buffered_body_bytes:
                self._refuse(RequestError(413))
                return
            self._body.write(data)
        else:
            assert self._reader is not None
            self._reader.feed(data)
            if self._reader.buffered > READ_HIGH_WATER:
                self._update_reading()

    def _on_end_of_body(self) -> None:
        self._body_complete = True
        if self._mode == INLINE:
            self._ready = True
            return
        assert self._reader is not None
        self._reader.feed_eof()
        if not self._running and not self._ready:
            self._complete_request()

    def _dispatch(self) -> None:
        mode = self._mode
        if mode == INLINE:
            self._run_inline()
        elif mode == THREAD:
            pool = self._state.pool
            assert pool is not None
            limit = self._state.config.max_queued_requests
            if limit is not None and pool.waiting >= limit:
                self._state.request_finished()
                self._refuse(RequestError(503, None, "Every handler thread is busy; try again shortly."))
                return
            self._running = True
            pool.submit(self._run_in_thread)
        else:
            self._running = True
            self._loop.create_task(self._run_async())

    def _run_inline(self) -> None:
        head = self._head
        assert head is not None
        body = self._body
        body.seek(0)
        started = time.perf_counter()
        try:
            if self._handler is None:
                self._proxy.rfile = io.BytesIO(replay_bytes(head, drop_expect=True) + body.getvalue())
                self._bridge.replay(self._proxy, self._client_address)
            else:
                self._bridge.dispatch(self._handler)
        except Exception:
            self._handler_failed()
        elapsed = time.perf_counter() - started
        if elapsed > self._state.config.slow_handler_warning:
            self._state.warn_slow_handler(self._handler, head.method, elapsed)
        self._finish_handler()
        self._complete_request()

    def _finish_handler(self) -> None:
        """Run the handler's own ``finish`` (replayed handlers ran theirs already)."""
        handler = self._handler
        if handler is not None:
            try:
                handler.finish()
            except Exception:
                self._state.server.handle_error(self._proxy, self._client_address)
                self._must_close = True

    def _run_in_thread(self) -> None:
        """A worker thread: all handler code of one request, then back to the loop."""
        head = self._head
        sink = self._sink
        assert head is not None and sink is not None
        failed = False
        try:
            if self._bridge.direct:
                self._handler, self._dispatch_ok = self._bridge.prepare(
                    head, self._proxy, self._client_address
                )
                if self._dispatch_ok:
                    self._bridge.dispatch(self._handler)
            else:
                self._bridge.replay(self._proxy, self._client_address)
            sink.flush()
        except Exception as exc:
            failed = True
            sink.drop_held()
            self._report_failure(exc)
        if self._handler is not None:
            try:
                self._handler.finish()
            except Exception as exc:
                self._report_failure(exc)
        try:
            self._loop.call_soon_threadsafe(self._handler_returned, failed)
        except RuntimeError:
            pass  # the loop is closed: the server is gone

    async def _run_async(self) -> None:
        head = self._head
        assert head is not None
        failed = False
        try:
            self._handler, self._dispatch_ok = self._bridge.prepare(head, self._proxy, self._client_address)
            if self._dispatch_ok:
                result = self._bridge.dispatch(self._handler)
                if result is not None:
                    try:
                        await result
                    except TimeoutError as exc:  # as the sync path (HandlerBridge.dispatch)
                        self._handler.log_error("Request timed out: %r", exc)
                        self._handler.close_connection = True
            self._finish_handler()
        except Exception as exc:
            failed = True
            self._report_failure(exc)
        self._handler_returned(failed)

    def _report_failure(self, exc: Exception) -> None:
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)) and self._closing:
            logger.debug("client %s went away during a response: %r", self._client_address, exc)
        else:
            self._state.server.handle_error(self._proxy, self._client_address)

    def _handler_returned(self, failed: bool) -> None:
        """Loop side: the threaded or async handler is done."""
        self._running = False
        if self._tunnel is not None:
            self._tunnel.handler_done()
            if self._proxy.access_logged and self._state.access_log is not None:
                self._log_access()
            self._finish_cycle()
            return
        if self._closing:
            self._finish_cycle()
            return
        if failed:
            self._must_close = True
            self._answer_500()
        handler = self._handler
        if (
            self._body_complete
            # Refused, failed, the client half-closed, or the handler ends the connection
            # (a timeout, say): do not wait for a body that may never come.
            or not self._dispatch_ok
            or self._must_close
            or self._peer_eof
            or (handler is not None and handler.close_connection)
        ):
            self._complete_request()
            self._process()  # requests that arrived meanwhile, or the close after a half-close
        else:
            assert self._reader is not None
            self._reader.discard()  # the rest of the body is read and dropped
            self._update_reading()

    def _switch(self) -> bool:
        """The handler sent a switching head (``ResponseWriter.on_switch``): hand it the
        connection if the request asked for that and is complete; else the response is
        delimited by closing, as any other."""
        head = self._head
        transport = self._transport
        if head is None or transport is None or self._mode == INLINE or not self._body_complete:
            return False
        if head.method != "CONNECT" and not any(name.lower() == "upgrade" for name, _ in head.headers):
            return False  # RFC 9110 section 15.2.2: a 101 only to a request that asked
        received = self._parser.take_buffered()
        self._parser = _NO_MORE_REQUESTS
        if self._mode == THREAD:
            self._tunnel = SocketTunnel(transport, self._proxy, received)
        else:
            wfile = self._proxy.wfile
            assert self._reader is not None and isinstance(wfile, ResponseStream)
            self._tunnel = StreamTunnel(transport, self._reader, wfile, self._wait_writable, received)
        return True

    def _deliver(self, data: bytes) -> None:
        """Loop side of ``ThreadedSink``: one write of a worker thread."""
        if not self._closing:
            self._writer.write(data)
            self._writer.flush()

    def _complete_request(self) -> None:
        """End the response, then go on with the next request or close."""
        handler = self._handler
        keep_alive = self._writer.finish()
        if handler is not None and handler.close_connection:
            keep_alive = False
        if not self._dispatch_ok or not self._body_complete:
            keep_alive = False  # refused or failed: the client may still send the body
        if self._writer.next_file() is not None:
            self._pumping = True
            self._keep_alive_after_pump = keep_alive
            self._pump_files()
            return
        self._after_response(keep_alive)

    def _pump_files(self) -> None:
        """Send queued file segments at the client's pace; then finish the response."""
        writer = self._writer
        while not self._closing:
            segment = writer.next_file()
            if segment is None:
                self._pumping = False
                self._after_response(self._keep_alive_after_pump)
                return
            if self._write_paused:
                return  # resume_writing() brings us back
            if not self._send_file_piece(segment):
                self._keep_alive_after_pump = False  # the file shrank: the body is short
                segment.remaining = 0
            if segment.remaining == 0:
                writer.file_done(segment)

    def _send_file_piece(self, segment: Any) -> bool:
        """Send some of ``segment``; False if the file ended early."""
        transport = self._transport
        assert transport is not None
        if self._socket_fd >= 0 and transport.get_write_buffer_size() == 0:
            # Nothing queued in the transport, so writing to its socket directly keeps
            # the byte order: zero-copy until the socket buffer is full.
            try:
                sent = os.sendfile(
                    self._socket_fd, segment.fd, segment.offset, min(segment.remaining, 1 << 20)
                )
            except BlockingIOError:
                sent = -1
            except OSError:
                self._socket_fd = -1  # not for this file or socket: copy from now on
                sent = -1
            if sent > 0:
                segment.advance(sent)
                return True
            if sent == 0:
                return False
        # The socket is full (or zero-copy is out): hand one piece to the transport, which
        # pauses us (pause_writing) until the client has taken it.
        data = os.pread(segment.fd, min(segment.remaining, 256 * 1024), segment.offset)
        if not data:
            return False
        transport.write(data)
        segment.advance(len(data))
        return True

    def _after_response(self, keep_alive: bool) -> None:
        if self._proxy.access_logged and self._state.access_log is not None:
            self._log_access()
        self._finish_cycle()
        self._served += 1
        if keep_alive and not self._must_close and not self._state.shutting_down:
            self._waiting_since = self._loop.time()
            # Reading resumes (if it was paused) in _process, which every caller runs next.
            self._parser.start_next_request()
        else:
            self._close()

    def _log_access(self) -> None:
        head = self._head
        assert head is not None and self._state.access_log is not None
        writer = self._writer
        self._state.access_log.emit(
            RequestFacts(
                self._client_address[0],
                head.request_line.decode("latin-1"),
                head.method,
                head.target,
                head.version,
                head.headers,
                writer.status,
                writer.body_bytes,
                self._loop.time() - self._started_at,
            )
        )

    def _finish_cycle(self) -> None:
        self._head = None
        self._handler = None
        self._reader = None
        self._sink = None
        self._state.request_finished()

    def _handler_failed(self) -> None:
        """An inline handler raised: log it, answer 500 if nothing was sent yet."""
        self._dispatch_ok = False
        self._must_close = True
        self._state.server.handle_error(self._proxy, self._client_address)
        self._answer_500()

    def _answer_500(self) -> None:
        if self._writer.discard_unsent():
            self._proxy.wfile = ResponseStream(self._writer)
            try:
                self._bridge.send_error_page(self._proxy, self._client_address, 500, head=self._head)
            except Exception:
                logger.exception("error page failed")

    def _refuse(self, error: RequestError) -> None:
        """Answer a request the parser refused, then close the connection."""
        if self._running:
            # A handler is streaming this request: it sees the body end badly.
            assert self._reader is not None
            self._reader.fail(ConnectionResetError(f"bad request body: {error.explain or error.status}"))
            self._must_close = True
            self._parser = _NO_MORE_REQUESTS  # never parse another byte of this connection
            self._reading_paused = True
            self._transport.pause_reading()  # type: ignore[union-attr]
            return
        if error.status:
            head = self._head
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
        self._head = None
        self._handler = None
        self._ready = False
        self._close()


class _NoMoreRequests:
    """Stands in for the parser once a connection must not parse another byte."""

    buffered_bytes = 0
    idle = False

    def take_buffered(self) -> bytes:
        return b""

    def feed(self, data: bytes) -> None:
        pass

    def feed_eof(self) -> None:
        pass

    def start_next_request(self) -> None:
        pass

    def next_event(self) -> _NeedData:
        return NEED_DATA


_NO_MORE_REQUESTS: Final = _NoMoreRequests()
