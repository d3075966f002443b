"""Flow control of one connection's transport, both ways.

Theory of operation: reading is paused while the connection holds enough -- a complete
request waiting for its turn, a body its handler has not caught up with, pipelined
requests behind a running handler -- and the transport is told only about changes
(``set_read_paused``).  Writing: the transport's ``pause_writing``/``resume_writing`` are
recorded here, and ``async`` handlers wait in ``wait_writable`` (``wfile.drain()``) while
it is paused, sharing one future per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["FlowControl"]


class FlowControl:
    """Whether the transport reads and whether it can take more writes."""

    __slots__ = (
        "_transport",
        "_loop",
        "write_paused",
        "reading_paused",
        "paused_since",
        "last_data_at",
        "_waiter",
    )

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self.write_paused = False
        self.reading_paused = False
        #: When writing was last paused (the send timeout counts from it).
        self.paused_since = 0.0
        #: When the last bytes arrived, or reading resumed (the body timeout counts from it).
        self.last_data_at = loop.time()
        self._waiter: asyncio.Future[None] | None = None

    def set_read_paused(self, pause: bool) -> None:
        """Pause or resume reading; the transport hears only of changes."""
        if pause != self.reading_paused:
            self.reading_paused = pause
            if pause:
                self._transport.pause_reading()
            else:
                self.last_data_at = self._loop.time()  # the body timeout counts from now
                self._transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.paused_since = self._loop.time()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.wake()

    def wake(self) -> None:
        """Release everything waiting in ``wait_writable`` (resumed, or closed)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._waiter = None

    async def wait_writable(self, timeout: float | None, closing: Callable[[], bool]) -> None:
        """Wait while writing is paused, at most ``timeout`` seconds (``TimeoutError``, as a
        socket's send would raise); ``BrokenPipeError`` once the connection is closing."""
        while self.write_paused and not closing():
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = self._loop.create_future()
            # Shared by every task draining this connection; shielded, so that one that is
            # cancelled (or times out) does not cancel the others' wait.
            try:
                await asyncio.shield(waiter) if timeout is None else await asyncio.wait_for(
                    asyncio.shield(waiter), timeout
                )
            except asyncio.TimeoutError:
                raise TimeoutError("timed out sending the response: the client stopped reading") from None
        if closing():
            raise BrokenPipeError("the client closed the connection")
