"""Turning whatever a handler writes to ``wfile`` into one well-framed response.

Theory of operation: stdlib handlers produce a response as bytes -- ``end_headers`` writes
the whole head in one ``wfile.write`` and the body follows in further writes -- and some
handlers write a raw ``HTTP/1.1 200 OK\\r\\n...`` head by hand.  So the writer works on
bytes too: it collects bytes until the blank line that ends the head, reads the few
fields that decide framing (status, version, Content-Length, Transfer-Encoding,
Connection), and passes the head through unchanged, adding at most one field:

* Content-Length given: the body is passed through and cut at that length;
* no Content-Length, HTTP/1.1 on both sides: ``Transfer-Encoding: chunked`` is added and
  every write becomes a chunk, so the connection can stay open (RFC 9112 section 7.1);
* otherwise the body is delimited by closing the connection (``Connection: close`` added);
* HEAD, 1xx, 204 and 304 responses never carry body bytes (RFC 9110 section 6.4.1), even
  when the handler writes some; interim 1xx heads are sent through as they come;
* ``101 Switching Protocols``, and any 2xx to ``CONNECT`` (which RFC 9110 section 9.3.6
  forbids to carry framing fields), end HTTP on the connection: the head is sent as it is,
  at once, and ``on_switch`` tells the connection, which hands it over to the handler
  (``_takeover``); whatever follows passes through unframed and unbuffered.

Output is corked: head and body pieces are joined and handed to the transport in one
write when the handler finishes, or as soon as ``FLUSH_THRESHOLD`` bytes are pending,
so a small response costs one ``send`` and never meets Nagle's algorithm.

File bodies (``wfile.sendfile``) join the output as ``FileSegment`` items; ``flush``
stops in front of one and the connection sends it at the client's pace (zero-copy where
it can), then flushes what follows.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable
from typing import Any, Final

__all__ = ["FileSegment", "ResponseWriter"]

logger = logging.getLogger("aiohttpbase.error")

FLUSH_THRESHOLD: Final = 64 * 1024

_STATUS_LINE: Final = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?:[ \r\n]|$)")
_END_OF_HEAD: Final = re.compile(rb"\n\r?\n")


class FileSegment:
    """``count`` bytes of a file from ``offset``, on a descriptor of the segment's own."""

    __slots__ = ("fd", "offset", "remaining")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.remaining = count

    def advance(self, sent: int) -> None:
        self.offset += sent
        self.remaining -= sent

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# Writer states; _INTERIM only marks a 1xx head in a framing decision.
_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE, _DISCARD, _DONE, _INTERIM, _SWITCHED = range(8)


class ResponseWriter:
    """Frames one response at a time onto ``send`` (usually ``transport.write``)."""

    __slots__ = (
        "_send",
        "_state",
        "_head",
        "_out",
        "_out_size",
        "_files",
        "_remaining",
        "_method",
        "_client_http11",
        "_request_keep_alive",
        "_keep_alive",
        "transmitted",
        "status",
        "body_bytes",
        "on_switch",
    )

    def __init__(self, send: Callable[[bytes], object]) -> None:
        self._send = send
        #: Called once a switching head (101, 2xx to CONNECT) has been sent; returns whether
        #: the connection now leaves HTTP (False: the body is delimited by closing).
        self.on_switch: Callable[[], bool] | None = None
        self._out: list[bytes | FileSegment] = []
        self._out_size = 0
        self._files = 0
        self._head = bytearray()
        self._state = _DONE
        self._remaining = 0
        self._method = ""
        self._client_http11 = False
        self._request_keep_alive = False
        self._keep_alive = False
        #: Whether any byte of the current response has been handed to ``send``.
        self.transmitted = False
        #: Final status of the current response (0 until its head is complete).
        self.status = 0
        #: Body bytes of the current response passed on so far (for access logs).
        self.body_bytes = 0

    def start(self, method: str, request_version: str, request_keep_alive: bool) -> None:
        """Prepare for the response to a request with this method and version."""
        self._method = method
        self._client_http11 = request_version >= "HTTP/1.1"
        self._request_keep_alive = request_keep_alive
        self._keep_alive = False
        self._head.clear()
        self._remaining = 0
        self.transmitted = False
        self.status = 0
        self.body_bytes = 0
        # An HTTP/0.9 response is the bare body and the end of the connection.
        self._state = _HEAD if request_version != "HTTP/0.9" else _UNTIL_CLOSE

    @property
    def begun(self) -> bool:
        """Whether the handler has begun a final response (sent or still corked; an
        interim ``1xx`` head does not count)."""
        return self.status != 0 or bool(self._head) or self.body_bytes > 0

    def discard_unsent(self) -> bool:
        """Forget a response nothing of which was transmitted yet; False if too late."""
        if self.transmitted:
            return False
        self.close_files()
        self._out_size = 0
        self._head.clear()
        self._state = _HEAD
        self.status = 0
        self.body_bytes = 0
        return True

    def write(self, data: bytes) -> None:
        """Take bytes the handler wrote to ``wfile``."""
        state = self._state
        if state == _LENGTH:
            if len(data) > self._remaining:
                logger.warning("handler wrote more body than its Content-Length; extra bytes dropped")
                data = data[: self._remaining]
                self._keep_alive = False
            self._remaining -= len(data)
            self._emit(data)
        elif state == _CHUNKED:
            if data:
                self._emit_chunk(data)
        elif state == _HEAD:
            self._take_head_bytes(data)
        elif state == _UNTIL_CLOSE:
            self._emit(data)
        elif state == _SWITCHED:
            self._emit(data)
            self.flush()  # raw bytes of another protocol: nothing to wait for
        # _DISCARD and _DONE drop the bytes: no body is allowed (HEAD, 204, 304).

    def flush(self) -> None:
        """Hand everything pending to ``send`` now (a handler's ``wfile.flush()``), up to
        the first pending file segment (see ``next_file``)."""
        out = self._out
        if not out:
            return
        if self._files:
            index = next(i for i, item in enumerate(out) if type(item) is FileSegment)
            data = b"".join(out[:index])  # type: ignore[arg-type]
            del out[:index]
        else:
            data = out[0] if len(out) == 1 else b"".join(out)  # type: ignore[assignment,arg-type]
            out.clear()
        self._out_size = 0
        if data:
            self.transmitted = True
            self._send(data)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """``wfile.sendfile``: queue part of an open regular file as body (see ``write_file``)."""
        fd = os.dup(file.fileno())
        if count is None:
            count = max(0, os.fstat(fd).st_size - offset)
        return self.write_file(fd, offset, count)

    def write_file(self, fd: int, offset: int, count: int) -> int:
        """Queue ``count`` bytes of file ``fd`` (a descriptor the writer may close) as body.

        Returns the bytes queued; raises ``io.UnsupportedOperation`` before the head is
        complete, where only bytes can tell where the head ends.
        """
        state = self._state
        if state in (_HEAD, _DONE):
            os.close(fd)
            raise io.UnsupportedOperation("sendfile before the response head")
        if state == _DISCARD or count <= 0:
            os.close(fd)
            return count if state == _DISCARD else 0
        if state == _LENGTH:
            count = min(count, self._remaining)
            self._remaining -= count
        segment = FileSegment(fd, offset, count)
        if state == _CHUNKED:
            self._out.append(b"%x\r\n" % count)
            self._out.append(segment)
            self._out.append(b"\r\n")
        else:
            self._out.append(segment)
        self._files += 1
        self.body_bytes += count
        return count

    def next_file(self) -> FileSegment | None:
        """The file segment blocking the output after a ``flush``, if any."""
        if self._files and self._out and type(self._out[0]) is FileSegment:
            return self._out[0]
        return None

    def file_done(self, segment: FileSegment) -> None:
        """The connection has sent ``segment``: drop it and flush what follows."""
        segment.close()
        self._out.remove(segment)
        self._files -= 1
        self.transmitted = True
        self.flush()

    def close_files(self) -> None:
        """Forget pending output, closing the descriptors of file segments."""
        for item in self._out:
            if type(item) is FileSegment:
                item.close()
        self._out.clear()
        self._files = 0

    def finish(self) -> bool:
        """End the response; returns whether the connection may carry another request."""
        state = self._state
        if state == _HEAD:
            if self._head:  # an unfinished head: pass it on as it is, then close
                self._emit(bytes(self._head))
            self._keep_alive = False
        elif state == _CHUNKED:
            self._out.append(b"0\r\n\r\n")
            self._out_size += 5
        elif state == _LENGTH and self._remaining:
            self._keep_alive = False  # short body: only closing tells the client
        elif state in (_UNTIL_CLOSE, _SWITCHED):
            self._keep_alive = False
        self._state = _DONE
        self.flush()
        return self._keep_alive

    # -- internals ---------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        self._out.append(data)
        self.body_bytes += len(data)
        self._out_size += len(data)
        if self._out_size >= FLUSH_THRESHOLD:
            self.flush()

    def _emit_chunk(self, data: bytes) -> None:
        n = len(data)
        self._out.append(b"%x\r\n" % n)
        self._out.append(data)
        self._out.append(b"\r\n")
        self.body_bytes += n
        self._out_size += n + 12
        if self._out_size >= FLUSH_THRESHOLD:
            self.flush()

    def _take_head_bytes(self, data: bytes) -> None:
        head = self._head
        if not head and data.startswith(b"HTTP/") and data.find(b"\r\n\r\n") == len(data) - 4:
            # The common case: end_headers() wrote exactly one whole head.
            self._start_body(data)
            return
        scan_from = max(0, len(head) - 3)
        head += data
        if not head.startswith(b"HTTP/"[: len(head)]):
            # Not a status line: the handler speaks raw bytes; pass them on and close.
            self._state = _UNTIL_CLOSE
            self._emit(bytes(head))
            head.clear()
            return
        match = _END_OF_HEAD.search(head, scan_from)
        if match is None:
            return
        end = match.end()
        rest = bytes(head[end:])
        self._start_body(bytes(head[:end]))
        head.clear()
        if rest:
            self.write(rest)

    def _start_body(self, head: bytes) -> None:
        """Frame the response whose complete head (blank line included) is ``head``."""
        key = (head, self._method, self._client_http11, self._request_keep_alive)
        framing = _framings.get(key)
        if framing is None:
            framing = _framing(*key)
            if len(head) <= _FRAMED_HEAD_BYTES:
                if len(_framings) >= _FRAMINGS_KEPT:
                    _framings.clear()
                _framings[key] = framing
        state, remaining, status, keep_alive, out = framing
        if state == _INTERIM:
            # Interim response (100 Continue, 103 Early Hints): send it, await the final one.
            self._out.append(out)
            self._out_size += len(out)
            self.flush()
            self.transmitted = False  # of the final response, nothing yet
            return
        if state == _SWITCHED:
            self.status = status
            self._keep_alive = False
            self._out.append(out)
            self.flush()
            if self.on_switch is None or not self.on_switch():
                self._state = _UNTIL_CLOSE  # a 101 nobody asked for: bytes until close
            else:
                self._state = _SWITCHED
            return
        self._state = state
        self._remaining = remaining
        self.status = status
        self._keep_alive = keep_alive
        self._out.append(out)
        if state == _UNTIL_CLOSE and not status:
            self.body_bytes += len(out)  # not a status line: it was body all along
        self._out_size += len(out)


# A response's framing is a pure function of its head and of the request it answers, and
# a handler sends the same head again and again (within the second its Date names), so
# decisions are remembered: a dictionary hit instead of reading the fields.  Emptied when
# full, as the request head cache is.
_Framing = tuple[int, int, int, bool, bytes]
_framings: dict[tuple[bytes, str, bool, bool], _Framing] = {}
_FRAMINGS_KEPT: Final = 256
_FRAMED_HEAD_BYTES: Final = 4096


def _framing(head: bytes, method: str, client_http11: bool, request_keep_alive: bool) -> _Framing:
    """``(state, body bytes expected, status, keep-alive, head to send)`` for a response
    whose complete head is ``head``, answering a request with these properties."""
    match = _STATUS_LINE.match(head)
    if match is None:
        return _UNTIL_CLOSE, 0, 0, False, head
    status = int(match.group(3))
    http11 = match.group(1) == b"1" and match.group(2) != b"0"
    if 100 <= status < 200 and status != 101:
        return _INTERIM, 0, status, False, head
    if status == 101 or (method == "CONNECT" and 200 <= status < 300):
        return _SWITCHED, 0, status, False, head  # the connection leaves HTTP: no framing
    # One lower-cased copy and a few C-level finds beat splitting the head into fields.
    lowered = head.lower()
    content_length = _field_value(lowered, b"\ncontent-length:")
    chunked = lowered.find(b"\ntransfer-encoding:") >= 0
    connection = _field_value(lowered, b"\nconnection:") or b""
    if http11:
        keep_alive = b"close" not in connection
    else:
        keep_alive = b"keep-alive" in connection and b"close" not in connection
    added = b""
    remaining = 0
    if method == "HEAD" or status in (204, 304):
        state = _DISCARD
    elif content_length is not None and content_length.isdigit() and not chunked:
        state = _LENGTH
        remaining = int(content_length)
    elif chunked:
        state = _UNTIL_CLOSE  # the handler chunks by itself; closing keeps us honest
        keep_alive = False
    elif http11 and client_http11:
        state = _CHUNKED
        added = b"Transfer-Encoding: chunked\r\n"
    else:
        state = _UNTIL_CLOSE
        if http11 and b"close" not in connection:
            added = b"Connection: close\r\n"  # HTTP/1.0 status lines imply it
        keep_alive = False
    if keep_alive and not request_keep_alive and http11 and not added:
        # RFC 9112 section 9.6: the client asked to close; say that we will.
        added = b"Connection: close\r\n"
    elif keep_alive and request_keep_alive and not client_http11 and b"keep-alive" not in connection:
        # An HTTP/1.0 client keeps the connection only when the response says so (RFC 9112
        # appendix C.2.2); without it, ``ab -k`` waits for a close that never comes.
        added = b"Connection: keep-alive\r\n"
    if added:
        blank = 2 if head.endswith(b"\r\n\r\n") else 1  # the blank line ends CRLF or LF
        head = head[:-blank] + added + head[-blank:]
    return state, remaining, status, keep_alive and request_keep_alive, head


def _field_value(lowered_head: bytes, marker: bytes) -> bytes | None:
    """The stripped value of the first field whose ``\\n<name>:`` is ``marker``."""
    start = lowered_head.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = lowered_head.find(b"\n", start)
    return lowered_head[start:end].strip()
