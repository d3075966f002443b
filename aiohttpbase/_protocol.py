"""One ``asyncio.Protocol`` per client connection.

Theory of operation: bytes from the transport go to the request parser; its events drive
one request at a time through the handler bridge; what the handler writes is framed by
the ``ResponseWriter`` onto the transport.  Handlers run inline, on the loop: the body is
buffered (bounded) before ``do_<COMMAND>`` is called, so a handler's blocking ``rfile``
reads are plain memory reads.

Pipelining: the parser hands out the next request only after the current response is
finished, so responses go out in request order; while a complete request waits (for a
``handle_request()`` turn, or for the transport to drain) the connection stops reading,
so a client cannot grow the server's buffers without bound.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any, cast

from ._events import BodyData, EndOfRequest, RequestError, RequestHead
from ._parsers import parser_class
from ._response import ResponseWriter
from ._streams import ConnectionProxy, ResponseStream

if TYPE_CHECKING:
    from ._bridge import HandlerBridge
    from .config import ServerConfig

__all__ = ["HTTPConnection", "ServerState"]

logger = logging.getLogger("aiohttpbase.error")


class ServerState:
    """What all connections of one server share: settings, the bridge, and bookkeeping."""

    def __init__(self, server: Any, config: ServerConfig, bridge: HandlerBridge) -> None:
        self.server = server
        self.config = config
        self.bridge = bridge
        self.parser_class = parser_class(config.parser)
        self.connections: set[HTTPConnection] = set()
        #: Requests still allowed to start; None means no limit (``serve_forever``).
        self.budget: int | None = None
        self.parked: list[HTTPConnection] = []
        self.shutting_down = False
        self.requests_started = 0
        self.requests_finished = 0
        self.progress: asyncio.Event | None = None

    def may_dispatch(self, connection: HTTPConnection) -> bool:
        """Whether ``connection`` may run its complete request now; parks it if not."""
        if self.budget is None:
            self.requests_started += 1
            return True
        if self.budget > 0:
            self.budget -= 1
            self.requests_started += 1
            self._notify()
            return True
        self.parked.append(connection)
        return False

    def request_finished(self) -> None:
        self.requests_finished += 1
        if self.progress is not None:
            self._notify()

    def grant(self, requests: int | None) -> None:
        """Allow ``requests`` more requests to start (None: any number) and wake parked ones."""
        self.budget = requests
        parked, self.parked = self.parked, []
        for connection in parked:
            connection.resume()

    def _notify(self) -> None:
        if self.progress is not None:
            self.progress.set()


class HTTPConnection(asyncio.Protocol):
    """Serves the requests of one client connection, in order."""

    __slots__ = (
        "_state",
        "_bridge",
        "_transport",
        "_parser",
        "_writer",
        "_proxy",
        "_client_address",
        "_head",
        "_handler",
        "_dispatch_ok",
        "_body",
        "_ready",
        "_write_paused",
        "_closing",
        "_must_close",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._bridge = state.bridge
        self._transport: asyncio.Transport | None = None
        self._parser = state.parser_class(state.config, state.config.max_buffered_body_bytes)
        self._head: RequestHead | None = None
        self._handler: Any = None
        self._dispatch_ok = True
        self._body = io.BytesIO()
        self._ready = False
        self._write_paused = False
        self._closing = False
        self._must_close = False

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername") or ("", 0)
        self._client_address = peer
        self._writer = ResponseWriter(transport.write)
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
        self._state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        self._process()

    def eof_received(self) -> bool:
        self._parser.feed_eof()
        self._process()
        if not self._closing and self.idle:
            self._close()
        return True  # we close ourselves once every answered request is written

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._state.connections.discard(self)
        if self in self._state.parked:
            self._state.parked.remove(self)
        self._handler = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
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

    def _close_after_response(self) -> None:
        self._must_close = True

    def _update_reading(self) -> None:
        if self._closing or self._transport is None:
            return
        if self._write_paused or self._ready:
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()

    # -- request cycle ---------------------------------------------------------------

    def _process(self) -> None:
        parser = self._parser
        while not self._closing:
            if self._ready:
                if self._write_paused or not self._state.may_dispatch(self):
                    self._update_reading()
                    return
                self._ready = False
                self._run_request()
                continue
            event = parser.next_event()
            kind = type(event)
            if kind is BodyData:
                self._body.write(event.data)  # type: ignore[union-attr]
            elif kind is RequestHead:
                self._start_request(event)  # type: ignore[arg-type]
            elif kind is EndOfRequest:
                self._ready = True
            elif kind is RequestError:
                self._refuse(event)  # type: ignore[arg-type]
                return
            else:  # NEED_DATA
                return

    def _start_request(self, head: RequestHead) -> None:
        self._head = head
        body = io.BytesIO()
        self._body = body
        proxy = self._proxy
        proxy.rfile = body
        proxy.wfile = ResponseStream(self._writer)
        self._writer.start(head.method, head.version, head.keep_alive)
        try:
            self._handler, self._dispatch_ok = self._bridge.prepare(head, proxy, self._client_address)
        except Exception:
            self._handler = None
            self._handler_failed()
        if not self._dispatch_ok:
            # Refused by handle_expect_100 (or it failed): the answer is already written
            # and the client may never send the body, so do not wait for it.
            self._complete_request()

    def _run_request(self) -> None:
        head = self._head
        assert head is not None
        body = self._body
        body.seek(0)
        try:
            if self._handler is None:
                self._bridge.replay(head, body.getvalue(), self._proxy, self._client_address)
            else:
                self._bridge.dispatch(self._handler)
        except Exception:
            self._handler_failed()
        self._complete_request()

    def _complete_request(self) -> None:
        """End the response, run the handler's ``finish``, then go on or close."""
        handler = self._handler
        keep_alive = self._writer.finish()
        if handler is not None:
            keep_alive = keep_alive and not handler.close_connection
            try:
                handler.finish()
            except Exception:
                self._state.server.handle_error(self._proxy, self._client_address)
                keep_alive = False
        if not self._dispatch_ok:
            keep_alive = False  # refused or failed: the client may still send the body
        self._head = None
        self._handler = None
        self._state.request_finished()
        if keep_alive and not self._must_close and not self._state.shutting_down:
            self._parser.start_next_request()
            self._update_reading()
        else:
            self._close()

    def _handler_failed(self) -> None:
        """The handler raised: log it, answer 500 if nothing was sent yet, then close."""
        self._dispatch_ok = False
        self._must_close = True
        self._state.server.handle_error(self._proxy, self._client_address)
        if self._writer.discard_unsent():
            self._proxy.wfile = ResponseStream(self._writer)
            try:
                self._bridge.send_error_page(self._proxy, self._client_address, 500, head=self._head)
            except Exception:
                logger.exception("error page failed")

    def _refuse(self, error: RequestError) -> None:
        """Answer a request the parser refused, then close the connection."""
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
        self._close()
