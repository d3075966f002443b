"""The HTTP/1 side of one connection, sans I/O: bytes in, request events out, responses framed.

Theory of operation: in the manner of h11's ``Connection``, ``HTTPCore`` knows nothing of
sockets, event loops or handlers.  Received bytes go in (``receive_data``); request events
come out (``next_event``: a ``RequestHead``, ``BodyData``, ``EndOfRequest``, a
``RequestError`` or ``NEED_DATA``, from its ``RequestReader``); what a handler writes is
framed by its ``ResponseWriter`` onto the ``send`` callable it was given.  Where the
connection stands is one ``Phase``, changed only through ``TRANSITIONS``, the table
below -- the state machine written down in one place, in the manner of h11's ``_state.py``:

====================  ==============  ===============================================
from                  on              to
====================  ==============  ===============================================
IDLE                  DATA            HEAD        the first byte of a request arrived
IDLE, HEAD            REQUEST         BODY        a complete head (its body may be empty)
BODY                  BODY_END        RESPONDING  the body is in: the response can end
RESPONDING            RESPONSE_END    DONE        the response is complete
DONE                  NEXT            IDLE        keep-alive: on to the next request
DONE                  CLOSE           MUST_CLOSE  the response ends the connection
BODY                  RESPONSE_END    DONE        answered before the body's end (then CLOSE)
RESPONDING            SWITCH          SWITCHED    a handler took the connection over
any but CLOSED        END             MUST_CLOSE  ends now: a refusal, timeout, shutdown
any                   LOST            CLOSED      the transport is gone
====================  ==============  ===============================================

The handler runs beside this: inline handlers start in ``RESPONDING`` (after the body is
buffered), threaded and ``async`` ones in ``BODY`` (while it streams in), so "the handler
is running" is a fact of the exchange (``Exchange.running``), not a phase.

``finish_response`` is the only place that decides whether a connection carries another
request: it weighs the request (``RequestHead.keep_alive``), the response's framing
(``ResponseWriter.finish``), the handler (``close_connection``, set by the stdlib's own
rules) and the server (a graceful shutdown drains).  ``switch`` decides whether a
switching response (``101``, a 2xx to ``CONNECT``) takes the connection out of HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

from ._events import BodyData, EndOfRequest, RequestError, RequestHead, _NeedData
from ._exchange import Exchange
from ._reader import RequestReader
from ._response import ResponseWriter

__all__ = ["ENDING", "TRANSITIONS", "HTTPCore", "Phase", "Step", "advance"]


# IntEnums: a phase is compared and looked up on every request, and int's C-level hash
# and comparisons cost a fraction of Enum's, which hashes through Python code.
class Phase(enum.IntEnum):
    IDLE = 0
    HEAD = 1
    BODY = 2
    RESPONDING = 3
    DONE = 4
    SWITCHED = 5
    # The connection is ending from here on (``HTTPCore.closing``).
    MUST_CLOSE = 6
    CLOSED = 7


class Step(enum.IntEnum):
    DATA = 0
    REQUEST = 1
    BODY_END = 2
    RESPONSE_END = 3
    NEXT = 4
    CLOSE = 5
    SWITCH = 6
    END = 7
    LOST = 8


_P, _S = Phase, Step
TRANSITIONS: Final[dict[tuple[Phase, Step], Phase]] = {
    (_P.IDLE, _S.DATA): _P.HEAD,
    (_P.IDLE, _S.REQUEST): _P.BODY,
    (_P.HEAD, _S.REQUEST): _P.BODY,
    (_P.BODY, _S.BODY_END): _P.RESPONDING,
    (_P.RESPONDING, _S.RESPONSE_END): _P.DONE,
    (_P.DONE, _S.NEXT): _P.IDLE,
    (_P.DONE, _S.CLOSE): _P.MUST_CLOSE,
    (_P.RESPONDING, _S.SWITCH): _P.SWITCHED,
    # A response that ends before its request's body (refused, failed): then closing.
    (_P.BODY, _S.RESPONSE_END): _P.DONE,
    **{(phase, _S.END): _P.MUST_CLOSE for phase in Phase if phase is not _P.CLOSED},
    **{(phase, _S.LOST): _P.CLOSED for phase in Phase},
}


def advance(phase: Phase, step: Step) -> Phase:
    """The phase after ``step``; a step the table does not allow is a bug, and raises."""
    try:
        return TRANSITIONS[phase, step]
    except KeyError:
        raise RuntimeError(f"connection in phase {phase.name} cannot take step {step.name}") from None


# The steps of every request, looked up in the table directly (``advance`` does the same
# with a clearer error, for the rare steps): a KeyError here is a step the table forbids.
_next_phase: Final = TRANSITIONS.__getitem__
#: This phase and the ones after it: the connection is ending (``HTTPCore.closing``; the
#: hot paths compare ``phase >= ENDING`` themselves, without the property call).
ENDING: Final = Phase.MUST_CLOSE
# The members the hot path names, read once: an enum member looked up through its class
# costs about 100 ns on CPython 3.11, several times per request.
_IDLE: Final = Phase.IDLE
_HEAD: Final = Phase.HEAD
_REQUEST: Final = Step.REQUEST
_BODY_END: Final = Step.BODY_END
_RESPONSE_END: Final = Step.RESPONSE_END
_NEXT: Final = Step.NEXT
_CLOSE: Final = Step.CLOSE


class HTTPCore:
    """The requests of one connection, in order, and the framing of their responses."""

    __slots__ = ("_reader", "received", "writer", "phase", "served", "peer_eof", "draining")

    def __init__(self, reader: RequestReader, send: Callable[[bytes], object]) -> None:
        self._reader = reader
        #: The bytes received and not yet parsed (the reader's buffer, to be read only).
        self.received = reader.buffer
        #: Frames the current response onto ``send``.
        self.writer = ResponseWriter(send)
        self.phase = Phase.IDLE
        #: Responses completed on this connection.
        self.served = 0
        #: The client will send no more bytes.
        self.peer_eof = False
        #: A graceful shutdown: every response from now on closes the connection.
        self.draining = False

    # -- bytes in, events out ----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes received from the client."""
        if self.phase is _IDLE:
            self.phase = _HEAD  # (IDLE, DATA) in the table, without the lookup
        self._reader.feed(data)

    def receive_eof(self) -> None:
        """The client half-closed: it will send no more bytes."""
        self.peer_eof = True
        self._reader.feed_eof()

    def next_event(self) -> RequestHead | BodyData | EndOfRequest | RequestError | _NeedData:
        """The next request event, or ``NEED_DATA``.

        After ``EndOfRequest`` the next request's events wait until the response is
        complete (``finish_response``, ``next_request``): responses go out in order.
        After a ``RequestError`` no further byte is parsed; it is answered (or, while a
        handler streams the body, that handler sees the body fail), then ``end``.
        """
        event = self._reader.next_event()
        kind = type(event)
        if kind is RequestHead:
            self.phase = _next_phase((self.phase, _REQUEST))
            head: RequestHead = event  # type: ignore[assignment]
            # During a graceful shutdown the response announces that the connection closes.
            self.writer.start(head.method, head.version, head.keep_alive and not self.draining)
        elif kind is EndOfRequest:
            self.phase = _next_phase((self.phase, _BODY_END))
        return event

    # -- what the connection asks -----------------------------------------------------

    @property
    def idle(self) -> bool:
        """Between requests, before any byte of the next one has arrived."""
        return self.phase is _IDLE and self._reader.idle

    @property
    def closing(self) -> bool:
        """The connection is ending (or gone): no further request will be served."""
        return self.phase >= ENDING

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet turned into events (bounds read buffering)."""
        return len(self.received)

    def finish_response(self, exchange: Exchange) -> bool:
        """End ``exchange``'s response; returns whether the connection carries another
        request after it (the only place that decides)."""
        framing_allows = self.writer.finish()  # length-delimited, and the request allowed it
        handler = exchange.handler
        return (
            framing_allows
            and not exchange.must_close
            # Refused or failed, or the body never ended: the client may still be sending it.
            and exchange.dispatch_ok
            and exchange.body_complete
            and not (handler is not None and handler.close_connection)
            and not self.draining
        )

    def next_request(self, keep_alive: bool) -> None:
        """The response has left: read the next request, or end the connection."""
        self.served += 1
        self.phase = _next_phase((self.phase, _RESPONSE_END))
        if keep_alive:
            self.phase = _next_phase((self.phase, _NEXT))
            self._reader.start_next_request()
        else:
            self.phase = _next_phase((self.phase, _CLOSE))

    def switch(self, head: RequestHead) -> bytes | None:
        """A switching response to ``head`` was sent: if the request asked for it and is
        complete, the connection leaves HTTP and the bytes received after the request are
        returned; None if it stays (the response is then delimited by closing)."""
        if self.phase is not Phase.RESPONDING:
            return None
        if head.method != "CONNECT" and (
            # RFC 9110 section 15.2.2: a 101 only to a request that asked; section 7.8: an
            # Upgrade on an HTTP/1.0 request is ignored.
            head.version != "HTTP/1.1" or not any(name.lower() == "upgrade" for name, _ in head.headers)
        ):
            return None
        self.phase = advance(self.phase, Step.SWITCH)
        return self._reader.take_buffered()

    def stop_reading(self) -> None:
        """Parse no further byte of this connection (a refused body, a lost client)."""
        self._reader.close()

    def end(self) -> None:
        """The connection ends now (a refusal, a timeout, a shutdown)."""
        if self.phase is not Phase.CLOSED:
            self.phase = advance(self.phase, Step.END)
            self._reader.close()

    def lost(self) -> None:
        """The transport is gone: let go of everything received."""
        self.phase = advance(self.phase, Step.LOST)
        self._reader.close()
