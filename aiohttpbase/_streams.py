"""The file and socket objects a handler sees: ``wfile`` and ``request``/``connection``.

``rfile`` needs no class of its own on the event loop: the body of a request served
inline is buffered first, and ``io.BytesIO`` already is a binary file positioned at it,
with ``read``, ``read1``, ``readinto``, ``readline`` and iteration, all in C.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["ConnectionProxy", "ResponseStream", "ResponseSink"]


class ResponseSink(Protocol):
    """Where ``wfile`` bytes go: a ``ResponseWriter`` or a bridge to one."""

    def write(self, data: bytes) -> None: ...

    def flush(self) -> None: ...


class ResponseStream(io.BufferedIOBase):
    """``wfile``: a write-only binary stream that feeds one response.

    Accepts ``bytes``, ``bytearray``, ``memoryview`` and also ``str`` (encoded as UTF-8),
    because handlers written for Python 2's ``BaseHTTPServer`` -- the seed's among
    them -- write text.
    """

    def __init__(self, sink: ResponseSink) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to closed file")
        if type(data) is not bytes:
            if isinstance(data, str):
                data = data.encode("utf-8")
            else:
                # Copy: output may be queued, and the caller is free to reuse its buffer.
                data = memoryview(data).tobytes()
        self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        if not self.closed:
            self._sink.flush()


class ConnectionProxy:
    """``self.request`` / ``self.connection`` of a handler: a stand-in for its socket.

    The stdlib's ``StreamRequestHandler.setup`` builds ``rfile`` and ``wfile`` from the
    connection with ``makefile`` and writes through ``sendall``; those calls land on the
    current request's streams here.  Socket options and addresses go to the real socket.
    """

    __slots__ = ("_socket", "_peername", "_timeout", "rfile", "wfile", "_on_close")

    def __init__(self, sock: Any, peername: Any, on_close: Callable[[], None]) -> None:
        self._socket = sock
        self._peername = peername
        self._timeout: float | None = None
        self._on_close = on_close
        #: Streams of the request being served; set by the connection for each request.
        self.rfile: io.BufferedIOBase = io.BytesIO()
        self.wfile: io.BufferedIOBase = io.BytesIO()

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> Any:
        """The current request's ``rfile`` (mode ``r``) or ``wfile`` (mode ``w``)."""
        return self.wfile if "w" in mode else self.rfile

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.wfile.write(data)

    def send(self, data: Any, flags: int = 0) -> int:
        return self.wfile.write(data)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self.rfile.read1(bufsize)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer)
        return self.rfile.readinto(view[:nbytes] if nbytes else view)

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def setsockopt(self, *args: Any) -> None:
        self._socket.setsockopt(*args)

    def getsockopt(self, *args: Any) -> Any:
        return self._socket.getsockopt(*args)

    def getpeername(self) -> Any:
        return self._peername

    def getsockname(self) -> Any:
        return self._socket.getsockname()

    def fileno(self) -> int:
        return int(self._socket.fileno())

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AddressFamily(self._socket.family)

    @property
    def type(self) -> socket.SocketKind:
        return socket.SocketKind(self._socket.type)

    def shutdown(self, how: int) -> None:
        """Closing is the server's job; a handler asking for it ends the connection."""
        self._on_close()

    def close(self) -> None:
        self._on_close()
