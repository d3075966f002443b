"""One request and its response, as a connection serves it.

Theory of operation: a connection serves one ``Exchange`` at a time, from its head to the
end of its response.  The exchange holds what the connection learns along the way: where
the handler runs (``mode``), whether the body is read whole first (``buffered``), the
handler object, its streams, and the facts ``HTTPCore.finish_response`` weighs to decide
about keep-alive (``must_close``, ``dispatch_ok``, ``body_complete``).

A body read whole (``buffered``) is gathered by ``take_body`` -- in memory, moved to a
temporary file once a chunked body passes ``SPOOL_BYTES`` -- and handed to the handler by
``hand_over_body``: a decoded chunked body is announced by Content-Length instead of
Transfer-Encoding (trailers dropped), as nginx does for the stdlib's handlers.
"""

from __future__ import annotations

import io
import tempfile
from typing import Any, Final

from ._bridge import INLINE, THREAD
from ._events import RequestHead
from ._takeover import may_switch

__all__ = ["SPOOL_BYTES", "Exchange", "plan"]

#: A chunked body read whole before its handler runs moves from memory to a temporary
#: file once it is larger than this.
SPOOL_BYTES: Final = 1 << 20


def plan(head: RequestHead, mode: int, buffer_chunked_body: bool) -> tuple[int, bool, bool]:
    """``(mode, may_switch, buffered)`` for ``head``, whose handler class runs in ``mode``.

    A request that may take its connection over (``CONNECT``, an upgrade) runs on a thread
    even on ``HTTPServer``, so that a blocking relay loop cannot stall the loop; its body
    streams.  Inline handlers get the body whole; a chunked body is read whole for a
    thread too (``buffer_chunked_body``), so that the handler sees Content-Length.
    """
    switchable = may_switch(head.method, head.connection)
    if mode == INLINE and switchable:
        mode = THREAD
    buffered = mode == INLINE or (
        mode == THREAD and head.content_length is None and buffer_chunked_body and not switchable
    )
    return mode, switchable, buffered


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

    def take_body(self, data: bytes, limit: int) -> bool:
        """Add ``data`` to a body read whole; False once it would pass ``limit`` bytes."""
        body = self.body
        size = body.tell() + len(data)
        if size > limit:
            return False
        if size > SPOOL_BYTES and type(body) is io.BytesIO and self.head.content_length is None:
            spilled = tempfile.TemporaryFile()  # noqa: SIM115 (closed with rfile, or with the exchange)
            spilled.write(body.getbuffer())
            self.body = body = spilled
        body.write(data)
        return True

    def hand_over_body(self, proxy: Any, wfile: Any) -> None:
        """Make the body read whole the handler's ``rfile`` (and ``wfile`` its stream)."""
        body = self.body
        length = body.tell()
        body.seek(0)
        proxy.rfile = body
        proxy.wfile = wfile
        handler = self.handler
        if handler is not None:
            handler.rfile = body
            handler.wfile = wfile
            if self.head.content_length is None:
                headers = handler.headers
                del headers["Transfer-Encoding"]
                headers["Content-Length"] = str(length)
