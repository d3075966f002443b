"""One request and its response, and the phases a connection moves through.

Theory of operation: a connection serves one ``Exchange`` at a time.  Where it stands is
one ``Phase``, changed only through ``TRANSITIONS``, the table below -- the connection's
state machine written down in one place, in the manner of h11's ``_state.py``:

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

``keep_alive_after`` is the only place that decides whether a connection carries another
request; the inputs it weighs come from the request (``RequestHead.keep_alive``), from
the response's framing (``ResponseWriter.finish``) and from the handler
(``close_connection``, set by the stdlib's own rules in ``HandlerBridge.prepare``).
"""

from __future__ import annotations

import enum
from typing import Any, Final

from ._events import RequestHead

__all__ = ["TRANSITIONS", "Exchange", "Phase", "Step", "advance", "keep_alive_after"]


# IntEnums: a phase is compared and looked up on every request, and int's C-level hash
# and comparisons cost a fraction of Enum's, which hashes through Python code.
class Phase(enum.IntEnum):
    IDLE = 0
    HEAD = 1
    BODY = 2
    RESPONDING = 3
    DONE = 4
    SWITCHED = 5
    # The connection is ending from here on (``HTTPConnection.closing``).
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


class Exchange:
    """What the connection knows about the request it is serving."""

    __slots__ = (
        "head",
        "mode",
        "buffered",
        "prepared",
        "refusal",
        "may_switch",
        "handler",
        "dispatch_ok",
        "running",
        "body_complete",
        "must_close",
        "client_gone",
        "started_at",
        "client_address",
        "body",
        "reader",
        "sink",
    )

    def __init__(
        self, head: RequestHead, mode: int, may_switch: bool, buffered: bool, started_at: float, client: Any
    ) -> None:
        self.head = head
        #: INLINE, THREAD or ASYNC (``_bridge``): where the handler code runs.
        self.mode = mode
        #: The body is read whole before the handler runs (inline, or chunked on a thread).
        self.buffered = buffered
        #: The handler was made (and ``Expect`` settled) on the loop when the head came in.
        self.prepared = False
        #: Why the body was refused while a handler streamed it: answered instead of a 500.
        self.refusal: Any = None
        #: CONNECT or an upgrade request: the handler may take the connection over.
        self.may_switch = may_switch
        #: The handler object (None until made, and in replay mode).
        self.handler: Any = None
        #: False once the request was refused (``handle_expect_100``) or its handler failed.
        self.dispatch_ok = True
        #: The handler code has been started and has not returned yet.
        self.running = False
        self.body_complete = False
        #: Set by whatever wants the connection closed after this response (a failure, a
        #: timeout, ``self.connection.close()``, a graceful shutdown).
        self.must_close = False
        #: The client's connection was lost while the handler ran: a broken pipe it meets
        #: is no server error.
        self.client_gone = False
        self.started_at = started_at
        self.client_address = client
        #: Buffered: the body (``io.BytesIO``, or a temporary file); else the ``BodyReader``
        #: and, on a worker thread, the ``ThreadedSink`` its writes go through.
        self.body: Any = None
        self.reader: Any = None
        self.sink: Any = None


def keep_alive_after(exchange: Exchange, framing_allows: bool, shutting_down: bool) -> bool:
    """Whether the connection carries another request after ``exchange``'s response.

    ``framing_allows``: the response is length-delimited and the request did not ask to
    close (``ResponseWriter.finish``).
    """
    handler = exchange.handler
    return (
        framing_allows
        and not exchange.must_close
        # Refused or failed, or the body never ended: the client may still be sending it.
        and exchange.dispatch_ok
        and exchange.body_complete
        and not (handler is not None and handler.close_connection)
        and not shutting_down
    )
