"""The file and socket objects a handler sees: ``wfile`` and ``request``/``connection``.

``rfile`` needs no class of its own on the event loop: the body of a request served
inline is buffered first, and ``io.BytesIO`` already is a binary file positioned at it,
with ``read``, ``read1``, ``readinto``, ``readline`` and iteration, all in C.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["BodyReader", "ConnectionProxy", "ResponseSink", "ResponseStream", "ThreadedSink"]


class ResponseSink(Protocol):
    """Where ``wfile`` bytes go: a ``ResponseWriter`` or a bridge to one."""

    def write(self, data: bytes) -> None: ...

    def flush(self) -> None: ...

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int: ...


class _ClosedSink:
    """Where a closed ``wfile`` points: its closing flush goes nowhere."""

    def write(self, data: bytes) -> None:
        raise ValueError("write to closed file")

    def flush(self) -> None:
        pass

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        raise ValueError("write to closed file")


_CLOSED_SINK = _ClosedSink()


class ResponseStream(io.BufferedIOBase):
    """``wfile``: a write-only binary stream that feeds one response.

    Accepts ``bytes``, ``bytearray``, ``memoryview`` and also ``str`` (encoded as UTF-8),
    because handlers written for Python 2's ``BaseHTTPServer`` -- the seed's among
    them -- write text.
    """

    __slots__ = ("_sink", "_drain")

    def __init__(self, sink: ResponseSink, drain: Callable[[], Awaitable[None]] | None = None) -> None:
        self._sink = sink
        self._drain = drain

    # Closed is "the sink is _CLOSED_SINK": one attribute store closes the stream, and
    # IOBase's own close() (a flush through Python, then a flag) is not needed.  IOBase
    # reads this property wherever it checks for a closed file (and when collected).
    @property
    def closed(self) -> bool:
        return self._sink is _CLOSED_SINK

    def close(self) -> None:
        """Close without sending what is pending: the connection always ends the response
        right after the handler, and sends it then with its last framing bytes."""
        self._sink = _CLOSED_SINK

    def writable(self) -> bool:
        return True

    def redirect(self, sink: ResponseSink, drain: Callable[[], Awaitable[None]] | None = None) -> None:
        """Send further writes to ``sink``: the connection was taken over (``_takeover``)."""
        self._sink = sink
        self._drain = drain

    def write(self, data: Any) -> int:
        if type(data) is not bytes:
            # A copy of buffers: output may be queued, and the caller may reuse its buffer.
            data = data.encode("utf-8") if isinstance(data, str) else memoryview(data).tobytes()
        self._sink.write(data)  # a closed stream's sink raises ValueError
        return len(data)

    def flush(self) -> None:
        self._sink.flush()  # nothing to do once closed

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send ``count`` bytes (all to the end if None) of the open regular ``file`` from
        ``offset`` as body, without reading it into memory; returns the bytes taken.

        On the event loop the connection sends the file at the client's pace, zero-copy
        on plain TCP; raises ``io.UnsupportedOperation`` where that is not possible (before
        the head is complete, or on a worker thread, where a copy loop is just as bounded).
        """
        return self._sink.sendfile(file, offset, count)

    async def drain(self) -> None:
        """For ``async`` handlers: send what is pending, then wait until the client has
        taken enough of it that writing more will not grow the server's buffers."""
        self.flush()
        if self._drain is not None:
            await self._drain()


class ConnectionProxy:
    """``self.request`` / ``self.connection`` of a handler: a stand-in for its socket.

    The stdlib's ``StreamRequestHandler.setup`` builds ``rfile`` and ``wfile`` from the
    connection with ``makefile`` and writes through ``sendall``; those calls land on the
    current request's streams here.  Socket options and addresses go to the real socket.

    Once a handler on a worker thread has taken over the connection (``take_over``), every
    socket call goes to a real socket carrying the client's raw bytes both ways, so
    ``recv``, ``sendall``, ``settimeout`` and ``select.select([self.connection, ...])``
    behave as on the stdlib.
    """

    __slots__ = (
        "_socket",
        "_peername",
        "_timeout",
        "rfile",
        "wfile",
        "_on_close",
        "access_logged",
        "logged_status",
        "_raw",
    )

    def __init__(self, sock: Any, peername: Any, on_close: Callable[[], None]) -> None:
        self._socket = sock
        self._peername = peername
        self._timeout: float | None = None
        self._on_close = on_close
        #: Streams of the request being served; set by the connection for each request.
        self.rfile: io.BufferedIOBase = io.BytesIO()
        self.wfile: io.BufferedIOBase = io.BytesIO()
        #: Set by ``ServingMixin.log_request``: the server owes this request an access line.
        self.access_logged = False
        #: The status ``log_request`` was given (``logs.logged_status``; 0 if none).
        self.logged_status = 0
        #: The handler's end of the raw connection after a takeover (see ``_takeover``).
        self._raw: socket.socket | None = None

    def take_over(self, raw: socket.socket) -> None:
        """From now on socket calls go to ``raw`` (with the handler's timeout)."""
        raw.settimeout(self._timeout)
        self._raw = raw

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> Any:
        """The current request's ``rfile`` (mode ``r``) or ``wfile`` (mode ``w``)."""
        if self._raw is not None:
            return self._raw.makefile(mode, -1 if buffering is None else buffering)  # type: ignore[call-overload]
        return self.wfile if "w" in mode else self.rfile

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self._raw is not None:
            self._raw.sendall(data, flags)
        else:
            self.wfile.write(data)

    def send(self, data: Any, flags: int = 0) -> int:
        if self._raw is not None:
            return self._raw.send(data, flags)
        return self.wfile.write(data)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self._raw is not None:
            return self._raw.recv(bufsize, flags)
        return self.rfile.read1(bufsize)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self._raw is not None:
            return self._raw.recv_into(buffer, nbytes, flags)
        view = memoryview(buffer)
        return self.rfile.readinto(view[:nbytes] if nbytes else view)

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout
        if self._raw is not None:
            self._raw.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def setsockopt(self, *args: Any) -> None:
        self._socket.setsockopt(*args)

    def getsockopt(self, *args: Any) -> Any:
        return self._socket.getsockopt(*args)

    def getpeername(self) -> Any:
        return self._peername

    def getsockname(self) -> Any:
        return self._socket.getsockname()

    def fileno(self) -> int:
        if self._raw is not None:
            return self._raw.fileno()  # what select() must watch: where the bytes arrive
        return int(self._socket.fileno())

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AddressFamily(self._socket.family)

    @property
    def type(self) -> socket.SocketKind:
        return socket.SocketKind(self._socket.type)

    def shutdown(self, how: int) -> None:
        """Closing is the server's job; a handler asking for it ends the connection."""
        if self._raw is not None:
            self._raw.shutdown(how)
        else:
            self._on_close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        else:
            self._on_close()


#: A reader holding more unread body than this stops reading from the client.
READ_HIGH_WATER = 256 * 1024
#: ... and starts again once the handler has consumed it down to this.
READ_LOW_WATER = 64 * 1024


class BodyReader(io.BufferedIOBase):
    """``rfile`` for threaded and ``async`` handlers: the body as it arrives.

    The event loop feeds it (``feed``, ``feed_eof``, ``fail``); a worker thread reads it with
    the usual blocking file methods, an ``async def`` handler with ``aread``/``areadline``.
    A blocking read on the loop thread that would have to wait raises ``RuntimeError``
    instead of freezing every connection.  ``timeout`` (the handler's ``timeout``, via
    ``connection.settimeout``) bounds each wait and raises ``TimeoutError`` as a socket would.
    """

    def __init__(
        self,
        loop_thread: int,
        on_drained: Callable[[], None],
        timeout: Callable[[], float | None],
        prefix: bytes = b"",
    ) -> None:
        self._buffer = bytearray(prefix)
        self._eof = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._loop_thread = loop_thread
        self._on_drained = on_drained
        self._timeout = timeout
        self._waiter: asyncio.Future[None] | None = None
        self._discarding = False
        #: Set when the buffer passed the high-water mark: the next take that brings it
        #: under the low-water mark tells the connection to read again.
        self._drain_wanted = False
        #: After a takeover on a worker thread: the raw connection's file, read instead.
        self._raw: Any = None

    # -- the loop's side ---------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        with self._cond:
            if not self._discarding:
                self._buffer += data
                if len(self._buffer) > READ_HIGH_WATER:
                    self._drain_wanted = True  # the connection pauses reading until we drain
            self._wake()

    def feed_eof(self) -> None:
        with self._cond:
            self._eof = True
            self._wake()

    def fail(self, error: BaseException) -> None:
        """The connection broke: pending and future reads raise ``error``."""
        with self._cond:
            if not self._eof:
                self._error = error
            self._eof = True
            self._wake()

    def reopen(self, data: bytes) -> None:
        """The connection was taken over by an ``async`` handler: from now on this reader
        carries the raw bytes that follow the head, starting with ``data``."""
        with self._cond:
            self._buffer = bytearray(data)
            self._eof = self._discarding = False
            self._error = None
            self._wake()

    def take_over(self, raw: Any) -> None:
        """The connection was taken over on a worker thread: reads go to ``raw`` (a
        binary file on the handler's end of the raw connection)."""
        self._raw = raw

    def discard(self) -> None:
        """The handler is done: drop what is buffered and whatever still arrives."""
        with self._cond:
            self._discarding = True
            self._buffer.clear()

    def _wake(self) -> None:
        self._cond.notify_all()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the handler's side ------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def _take(self, n: int) -> bytes:
        """Remove up to ``n`` (all if negative) buffered bytes; caller holds the lock."""
        buffer = self._buffer
        if n < 0 or n >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:n])
            del buffer[:n]
        if self._drain_wanted and len(buffer) < READ_LOW_WATER:
            self._drain_wanted = False
            self._on_drained()
        return data

    def _take_line(self, limit: int) -> bytes:
        """Remove bytes up to and including the first newline, at most ``limit`` of them
        if not negative, all that is buffered if no newline is; caller holds the lock."""
        end = self._buffer.find(b"\n", 0, limit if limit >= 0 else len(self._buffer))
        n = limit if end < 0 else end + 1
        return self._take(n)

    def _wait(self) -> None:
        """Block (thread) until bytes are buffered or the body ended; caller holds the lock.
        Raises the connection's error once the bytes that arrived before it are consumed."""
        while not self._buffer and not self._eof:
            if threading.get_ident() == self._loop_thread:
                raise RuntimeError("rfile would block the event loop; use 'await self.rfile.aread()'")
            if not self._cond.wait(self._timeout()):
                raise TimeoutError("timed out reading the request body")
        if self._error is not None and not self._buffer:
            raise self._error

    async def _await(self) -> None:
        """``_wait`` for ``async`` handlers, at most the handler's ``timeout`` each time."""
        while not self._buffer and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            timeout = self._timeout()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, timeout)
            except asyncio.TimeoutError:  # (not the builtin TimeoutError before 3.11)
                raise TimeoutError("timed out reading the request body") from None
            finally:
                self._waiter = None
        if self._error is not None and not self._buffer:
            raise self._error

    # Reads that want more than one piece take what has arrived as it arrives: waiting
    # for all of it in the buffer would deadlock against the high-water pause above, and
    # memory stays bounded by what the handler itself asked for.  A body that ends badly
    # (client gone, timeout, bad framing) raises: a short read is never the whole body.

    def _gather(self, n: int, line: bool) -> bytes:
        """``n`` bytes (the rest of the body if negative), or a line of at most ``n``."""
        parts: list[bytes] = []
        with self._cond:
            while n:
                self._wait()
                if not self._buffer:
                    break  # the body's end
                part = self._take_line(n) if line else self._take(n)
                parts.append(part)
                n = _still_wanted(n, part, line)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _agather(self, n: int, line: bool) -> bytes:
        """``_gather`` for ``async`` handlers."""
        parts: list[bytes] = []
        while n:
            await self._await()
            if not self._buffer:
                break
            with self._cond:
                part = self._take_line(n) if line else self._take(n)
            parts.append(part)
            n = _still_wanted(n, part, line)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read(self, n: int | None = -1) -> bytes:
        if self._raw is not None:
            return self._raw.read(n)  # type: ignore[no-any-return]
        return self._gather(-1 if n is None else n, False)

    def read1(self, n: int = -1) -> bytes:
        if self._raw is not None:
            return self._raw.read1(n)  # type: ignore[no-any-return]
        with self._cond:
            self._wait()
            return self._take(n)

    def readinto(self, b: Any) -> int:
        """Fill ``b`` (fewer bytes only at the body's end), as a buffered socket file does."""
        if self._raw is not None:
            return self._raw.readinto(b)  # type: ignore[no-any-return]
        view = memoryview(b).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, limit: int | None = -1) -> bytes:
        if self._raw is not None:
            return self._raw.readline(limit)  # type: ignore[no-any-return]
        return self._gather(-1 if limit is None else limit, True)

    async def aread(self, n: int = -1) -> bytes:
        """Awaitable ``read``: ``n`` bytes (fewer only at the body's end), or the rest of
        the body if ``n`` is negative."""
        return await self._agather(n, False)

    async def aread1(self, n: int = 65536) -> bytes:
        """Awaitable ``read1``: whatever has arrived, at most ``n`` bytes; b"" at the end."""
        await self._await()
        with self._cond:
            return self._take(n)

    async def areadline(self, limit: int = -1) -> bytes:
        """Awaitable ``readline``."""
        return await self._agather(limit, True)


def _still_wanted(n: int, part: bytes, line: bool) -> int:
    """What a read of ``n`` (negative: no limit) still wants after ``part``; 0 when done."""
    if line and part.endswith(b"\n"):
        return 0
    return n - len(part) if n > 0 else n


#: A worker thread blocks in ``wfile.write`` while more than this waits to be sent.
WRITE_HIGH_WATER = 256 * 1024


class ThreadedSink:
    """Carries a worker thread's ``wfile`` writes to the event loop, with backpressure.

    Only the loop thread touches the writer and the transport: each write is handed over
    with ``call_soon_threadsafe``.  The thread blocks while too many bytes are in flight or
    the transport has paused writing (a client that reads slowly), so a slow client slows
    only its own handler and memory stays bounded.  The first write (usually the head) is
    held back until the next one so that head and a small body leave in one segment --
    except an interim head (``100 Continue``), which the client is waiting for.

    ``in_step``: every write returns only once the loop has taken it.  For requests that
    may take over the connection (CONNECT, Upgrade): after a switching head the connection
    has been handed over by the time ``end_headers()`` returns, so the handler's next read
    or write already goes to the raw connection.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[bytes], None],
        timeout: Callable[[], float | None],
        in_step: bool = False,
    ) -> None:
        self._loop = loop
        self._deliver_to_writer = deliver
        self._timeout = timeout
        self._cond = threading.Condition()
        self._in_flight = 0
        self._paused = False
        self._error: BaseException | None = None
        self._held: bytes | None = None
        self._first = not in_step
        self._in_step = in_step

    def set_paused(self, paused: bool) -> None:
        """Loop side: the transport paused or resumed writing."""
        with self._cond:
            self._paused = paused
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        """Loop side: the connection is gone; writes raise ``error`` from now on."""
        with self._cond:
            self._error = error
            self._cond.notify_all()

    def write(self, data: bytes) -> None:
        if self._first:
            if data[9:10] == b"1" and data.startswith(b"HTTP/"):
                self._send(data)  # an interim head goes now; the final one may be held
                return
            self._first = False
            self._held = data
            return
        if self._held is not None:
            data = self._held + data
            self._held = None
        self._send(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._send(data)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """A worker thread copies files itself: its blocking writes are flow-controlled."""
        raise io.UnsupportedOperation("sendfile is done by the event loop, not from a worker thread")

    def drop_held(self) -> None:
        self._held = None

    def _send(self, data: bytes) -> None:
        with self._cond:
            while (self._paused or self._in_flight > WRITE_HIGH_WATER) and self._error is None:
                if not self._cond.wait(self._timeout()):
                    raise TimeoutError("timed out sending the response: the client stopped reading")
            if self._error is not None:
                raise self._error
            self._in_flight += len(data)
        self._loop.call_soon_threadsafe(self._deliver, data)
        if self._in_step:
            with self._cond:
                while self._in_flight and self._error is None:
                    if not self._cond.wait(self._timeout()):
                        raise TimeoutError("timed out sending the response: the client stopped reading")

    def _deliver(self, data: bytes) -> None:
        self._deliver_to_writer(data)
        with self._cond:
            self._in_flight -= len(data)
            self._cond.notify_all()
