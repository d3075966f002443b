"""One ``asyncio.Protocol`` per client connection: bytes between the transport and the core.

Theory of operation: bytes from the transport go into the connection's ``HTTPCore``
(``_core``, sans I/O), and its ``RequestCycle`` (``_cycle``) turns the core's events into
exchanges that runners serve.  This class is the transport's side of that: it feeds
bytes in, passes the transport's flow-control callbacks on (``_flow``), pauses reading
while the connection holds enough, applies the timeouts the server's sweep asks for, and
closes.  Once a handler takes the connection over (``_takeover``), bytes go to its
tunnel instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from ._core import ENDING, HTTPCore, Phase
from ._cycle import RequestCycle
from ._events import RequestError
from ._flow import FlowControl
from ._takeover import SocketTunnel, StreamTunnel

if TYPE_CHECKING:
    from ._state import ServerState

__all__ = ["HTTPConnection"]

logger = logging.getLogger("aiohttpbase.error")


class HTTPConnection(asyncio.Protocol):
    """Serves the requests of one client connection, in order."""

    __slots__ = ("_state", "_transport", "_clock", "_core", "_flow", "_cycle", "_tunnel")

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._transport: asyncio.Transport | None = None
        #: Set once a handler has taken over the connection (see ``_takeover``).
        self._tunnel: SocketTunnel | StreamTunnel | None = None

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        state = self._state
        config = state.config
        self._transport = transport
        self._core = core = HTTPCore(
            state.parser_class(config, config.max_body_bytes, state.head_cache), transport.write
        )
        core.draining = state.shutting_down
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self._flow = flow = FlowControl(transport, loop)
        self._cycle = cycle = RequestCycle(state, core, flow, self, transport)
        peer = cycle.client_address
        try:
            allowed = state.server.verify_request(cycle.proxy, peer)
        except Exception:
            state.server.handle_error(cycle.proxy, peer)
            allowed = False
        if not allowed:
            self.close()
            return
        if config.limit_concurrency is not None and len(state.connections) >= config.limit_concurrency:
            cycle.refuse(RequestError(503, None, "Too many connections; try again shortly."))
            return
        state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.from_client(data)
            self.update_reading()
            return
        self._flow.last_data_at = self._clock()
        self._core.receive_data(data)
        self._cycle.process()  # which also bounds bytes piling up behind a running handler

    def eof_received(self) -> bool:
        if self._tunnel is not None:
            self._tunnel.client_eof()
            return True  # half-closed: the handler may still answer
        self._core.receive_eof()
        self._cycle.process()
        return True  # we close ourselves once every request received is answered

    def connection_lost(self, exc: Exception | None) -> None:
        self._core.lost()  # (and lets go of unparsed bytes at once)
        state = self._state
        state.connections.discard(self)
        if self in state.parked:
            state.parked.remove(self)
        if self._tunnel is not None:
            self._tunnel.client_lost()
        self._cycle.lost()
        self._flow.wake()

    def pause_writing(self) -> None:
        self._flow.pause_writing()
        self._tell_writable(False)
        self.update_reading()

    def resume_writing(self) -> None:
        self._flow.resume_writing()
        self._tell_writable(True)
        self.resume()

    def _tell_writable(self, writable: bool) -> None:
        if self._tunnel is not None:
            self._tunnel.client_writable(writable)
        self._cycle.set_writable(writable)

    # -- what the server asks (``_state.Connection``) ----------------------------------

    @property
    def idle(self) -> bool:
        """No request in progress and none partly received."""
        return self._cycle.idle

    @property
    def closing(self) -> bool:
        """The connection is closed or closing."""
        return self._core.closing

    def resume(self) -> None:
        """Continue after a pause (transport drained, or a ``handle_request`` turn)."""
        if not self._core.closing:
            self._cycle.process()
            self.update_reading()

    def close_when_idle(self) -> None:
        """Used by shutdown: close now if idle, else after the current response."""
        self._core.draining = True
        if self._cycle.idle and not self._core.closing:
            self.close()

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
        cycle = self._cycle
        exchange = cycle.exchange
        if flow.write_paused and now - flow.paused_since > config.timeout_send:
            # (closing too: a closing transport still waits for its buffer to drain)
            logger.info("closing %s: it stopped reading the response", cycle.client_address)
            self.abort()
        elif core.closing:
            return
        elif exchange is None:
            waited = now - cycle.waiting_since
            if core.idle and core.served and waited > config.timeout_keep_alive:
                self.close()
            elif waited > config.timeout_header:
                if core.idle:
                    self.close()
                else:
                    cycle.refuse(RequestError(408, None, "The request head did not arrive in time."))
        elif (
            not exchange.body_complete
            and not cycle.ready
            and not flow.reading_paused
            and now - flow.last_data_at > config.timeout_body
        ):
            if exchange.running:
                exchange.reader.fail(TimeoutError("timed out reading the request body"))
                exchange.must_close = True
            else:
                # refuse answers 408 unless the handler's own answer has begun; that one
                # is ended as it is: one answer, never two.
                cycle.refuse(RequestError(408, None, "The request body did not arrive in time."))

    # -- what the cycle asks (``_cycle.Link``) -------------------------------------------

    def update_reading(self) -> None:
        """Pause reading while writing is paused or the connection holds enough."""
        if self._core.phase >= ENDING or self._transport is None or type(self._tunnel) is SocketTunnel:
            return  # (a socket tunnel's flow control is its own)
        flow = self._flow
        pause = flow.write_paused or self._cycle.holding
        if pause != flow.reading_paused:  # (the usual case, no change, without a call)
            flow.set_read_paused(pause)

    def close(self) -> None:
        """End the connection now."""
        if self._core.phase is not Phase.CLOSED:
            self._core.end()
            self._transport.close()  # type: ignore[union-attr]

    def close_transport(self) -> None:
        """Close after what is written (the core has moved to ``MUST_CLOSE``)."""
        self._transport.close()  # type: ignore[union-attr]

    def take_over(self, tunnel: SocketTunnel | StreamTunnel) -> None:
        self._tunnel = tunnel
