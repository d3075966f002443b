"""Sending the file segments of a response (``wfile.sendfile``) at the client's pace."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from ._response import FileSegment, ResponseWriter

__all__ = ["FilePump"]

#: Most bytes one ``sendfile`` call is asked for, and one copied piece's size.
_SENDFILE_PIECE = 1 << 20
_COPY_PIECE = 256 * 1024


class FilePump:
    """Sends a writer's queued file segments; zero-copy on plain TCP while the socket takes
    them, else in pieces through the transport, whose flow control paces us."""

    __slots__ = ("_transport", "_writer", "_socket_fd", "_paused", "short", "_then")

    def __init__(self, transport: asyncio.Transport, writer: ResponseWriter, socket_fd: int) -> None:
        self._transport = transport
        self._writer = writer
        #: The client's socket when ``os.sendfile`` may write to it (-1: copy instead).
        self._socket_fd = socket_fd
        #: Set while the transport has paused writing (the client is not reading).
        self._paused = False
        #: A file ended before the bytes promised from it: the body is short.
        self.short = False
        #: Called once every segment is sent, with whether the connection may stay open.
        self._then: Callable[[bool], None] | None = None

    @classmethod
    def for_transport(cls, transport: asyncio.Transport, writer: ResponseWriter) -> FilePump:
        """A pump onto ``transport``: zero-copy on plain TCP, by copies over TLS."""
        sock = transport.get_extra_info("socket")
        tls = transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object")
        return cls(transport, writer, sock.fileno() if sock is not None and tls is None else -1)

    def start(self, keep_alive: bool, then: Callable[[bool], None]) -> None:
        """Send the writer's queued segments, then call ``then(keep_alive)`` -- False if a
        file came up short, which only closing can tell the client."""
        self._then = lambda sent_whole: then(keep_alive and sent_whole)
        self._resume()

    def set_paused(self, paused: bool) -> None:
        """The transport paused or resumed writing."""
        self._paused = paused
        if not paused and self._then is not None:
            self._resume()

    def _resume(self) -> None:
        if self._send():
            then, self._then = self._then, None
            short, self.short = self.short, False
            then(not short)  # type: ignore[misc]

    def _send(self) -> bool:
        """Send what the client takes now; True once every queued segment is sent."""
        writer = self._writer
        while not self._transport.is_closing():
            segment = writer.next_file()
            if segment is None:
                return True
            if self._paused:
                return False  # set_paused(False) resumes
            if not self._send_piece(segment):
                self.short = True  # the file shrank: only closing can tell the client
                segment.remaining = 0
            if segment.remaining == 0:
                writer.file_done(segment)
        return False

    def _send_piece(self, segment: FileSegment) -> bool:
        """Send some of ``segment``; False if the file ended early."""
        transport = self._transport
        if self._socket_fd >= 0 and transport.get_write_buffer_size() == 0:
            # Nothing queued in the transport, so writing to its socket directly keeps
            # the byte order: zero-copy until the socket buffer is full.
            try:
                sent = os.sendfile(
                    self._socket_fd, segment.fd, segment.offset, min(segment.remaining, _SENDFILE_PIECE)
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
        data = os.pread(segment.fd, min(segment.remaining, _COPY_PIECE), segment.offset)
        if not data:
            return False
        transport.write(data)
        segment.advance(len(data))
        return True
