"""Static files: ``SimpleHTTPRequestHandler``, the stdlib's plus ranges, validators and sendfile.

Theory of operation: the stdlib's handler is a pair of hooks -- ``send_head()`` sends the
head and returns a file object (or ``None``), and ``do_GET`` hands that object to
``copyfile(source, wfile)``.  Handlers in the wild override either hook, so we keep that
shape and change only what flows through it:

* ``send_head()`` evaluates the conditional headers in the order of RFC 9110 section
  13.2.2 (``If-Match``, ``If-Unmodified-Since``, ``If-None-Match``, ``If-Modified-Since``,
  then ``Range``/``If-Range``) and returns a :class:`FileSlice` -- a read-only view of the
  bytes the head announced -- instead of the bare file, so any copy loop, ours or a
  subclass's, sends exactly ``Content-Length`` bytes, even if the file changes meanwhile;
* ``copyfile()`` recognises a :class:`FileSlice` and sends it with ``wfile.sendfile`` when
  the stream offers one (zero-copy on plain TCP), falling back to a loop of bounded reads;
  the file is never read into memory whole.

The 301 for a directory without its trailing slash follows the stdlib's rule as Python 3.14
has it (a path ending in ``%2f`` or ``%2F`` already ends in a slash, on every version).
Everything else -- directory listings, ``index.html``, 404s, ``translate_path``,
``guess_type``, ``extensions_map``, ``directory=`` -- is the stdlib's own code, inherited.
"""

from __future__ import annotations

import datetime
import email.utils
import http.server
import io
import os
import re
import secrets
import stat
import urllib.parse
from collections.abc import Iterator, Sequence
from http import HTTPStatus
from typing import IO, Any, BinaryIO, ClassVar, Final

from .handlers import BaseHTTPRequestHandler

__all__ = ["FileSlice", "SimpleHTTPRequestHandler", "parse_byte_ranges"]

#: A validator list entry: optional weak prefix, then the quoted opaque tag (RFC 9110 8.8.3).
_ENTITY_TAG: Final = re.compile(r'(W/)?("[^"]*")')
#: One byte-range-spec: ``first-last``, ``first-`` or ``-suffix`` (RFC 9110 section 14.1.2).
_RANGE_SPEC: Final = re.compile(r"([0-9]*)\s*-\s*([0-9]*)", re.ASCII)
#: Longer numbers are beyond any file; capping them keeps ``int()`` clear of the
#: interpreter's digit limit (a 5000-digit position would raise ``ValueError``).
_MAX_DIGITS: Final = 18
_BEYOND_ANY_FILE: Final = 10**18
#: Ranges closer than this are sent as one: a multipart part header costs about as much.
_COALESCE_GAP: Final = 80


def parse_byte_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges of a ``Range`` value for a representation of ``size`` bytes.

    Returns half-open ``(start, stop)`` offsets in the order given; an empty list when
    the header is valid but no range overlaps the file (answer 416); ``None`` when the
    header must be ignored (answer 200): another unit, bad syntax, or a ``last`` before
    its ``first`` (RFC 9110 section 14.1.1 makes the whole set invalid then).
    """
    unit, equals, range_set = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    seen_spec = False
    for element in range_set.split(","):
        element = element.strip()
        if not element:
            continue  # the list syntax allows empty elements (RFC 9110 section 5.6.1)
        match = _RANGE_SPEC.fullmatch(element)
        if match is None:
            return None
        first, last = match.groups()
        if not first and not last:
            return None
        seen_spec = True
        if first:
            start = _position(first)
            if last:
                end = _position(last)
                if end < start:
                    return None
                stop = min(end + 1, size)
            else:
                stop = size
            if start < size:
                ranges.append((start, stop))
        else:
            suffix = _position(last)
            if suffix > 0 and size > 0:  # a zero-length suffix selects nothing
                ranges.append((max(0, size - suffix), size))
    return ranges if seen_spec else None


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else _BEYOND_ANY_FILE


def _coalesce(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping and nearly adjacent ranges (RFC 9110 section 14.2 allows it).

    Besides saving part headers, this defeats requests that ask for the same bytes many
    times over to amplify a small request into a huge response.
    """
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1] + _COALESCE_GAP:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _tag_list_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list names ``etag`` (RFC 9110 section 8.8.3.2).

    ``weak`` comparison ignores ``W/`` prefixes; strong comparison needs both tags strong.
    """
    if header.strip() == "*":
        return True
    etag_is_weak = etag.startswith("W/")
    opaque = etag[2:] if etag_is_weak else etag
    for match in _ENTITY_TAG.finditer(header):
        candidate_is_weak = match.group(1) is not None
        if match.group(2) == opaque and (weak or not (candidate_is_weak or etag_is_weak)):
            return True
    return False


def _parse_http_date(value: str) -> datetime.datetime | None:
    """An HTTP-date as an aware UTC datetime, or ``None`` if it is not one."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, IndexError, OverflowError, ValueError):
        return None
    if when.tzinfo is None:
        # The obsolete formats carry no zone and mean GMT (RFC 9110 section 5.6.7).
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when


def _whole_seconds(mtime: float) -> datetime.datetime:
    """A modification time as ``Last-Modified`` states it: UTC, whole seconds."""
    return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).replace(microsecond=0)


class _ReadableBody(io.RawIOBase):
    """A raw stream that implements ``read``; ``readinto`` is derived from it here
    (``RawIOBase`` derives them the other way round)."""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class FileSlice(_ReadableBody):
    """A read-only view of bytes ``[start, stop)`` of an open binary file.

    What our ``send_head()`` returns for a file: reading it yields exactly the body that
    the head announced.  Reads are positional (``os.pread``), so several slices may
    share one file and a ``sendfile`` elsewhere does not disturb them.  ``read(n)``
    returns fresh ``bytes``, which ``wfile.write`` keeps without another copy.
    """

    def __init__(
        self,
        file: BinaryIO | IO[bytes],
        start: int,
        stop: int,
        *,
        regular: bool = True,
        close_file: bool = True,
    ) -> None:
        super().__init__()
        #: The open file; ``sendfile`` implementations read it by descriptor.
        self.file = file
        self.start = start
        self.stop = stop
        #: Whether it is a regular file (only those can be handed to ``sendfile``).
        self.regular = regular
        self._position = start
        self._close_file = close_file

    @property
    def name(self) -> Any:
        return getattr(self.file, "name", None)

    @property
    def position(self) -> int:
        """Offset in the file of the next byte to send."""
        return self._position

    @property
    def remaining(self) -> int:
        """Bytes of the slice not sent yet."""
        return max(0, self.stop - self._position)

    def advance(self, count: int) -> None:
        """Skip ``count`` bytes that were sent by other means (``sendfile``)."""
        self._position = min(self.stop, self._position + count)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.file.fileno()

    def tell(self) -> int:
        return self._position - self.start

    def read(self, size: int | None = -1) -> bytes:
        count = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if count <= 0:
            return b""
        if hasattr(os, "pread"):
            data = os.pread(self.file.fileno(), count, self._position)
        else:  # Windows has no pread; the file is ours alone there
            self.file.seek(self._position)
            data = self.file.read(count)
        # A short read means the file shrank since its head was sent: the response
        # ends early and the connection is closed, which is all HTTP can say about it.
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if not self.closed and self._close_file:
            self.file.close()
        super().close()


class _MultipartBody(_ReadableBody):
    """A ``multipart/byteranges`` body (RFC 9110 section 14.6): part heads and file slices."""

    def __init__(self, file: IO[bytes], pieces: list[bytes | FileSlice]) -> None:
        super().__init__()
        self._file = file
        self.pieces = pieces
        self._next = 0
        self._pending = b""

    @property
    def length(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else p.remaining for p in self.pieces)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(64 * 1024), b""))
        while not self._pending and self._next < len(self.pieces):
            piece = self.pieces[self._next]
            if isinstance(piece, bytes):
                self._pending = piece
                self._next += 1
            else:
                self._pending = piece.read(size)
                if not self._pending:
                    self._next += 1
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class SimpleHTTPRequestHandler(BaseHTTPRequestHandler, http.server.SimpleHTTPRequestHandler):
    """``http.server.SimpleHTTPRequestHandler`` plus byte ranges, entity tags and ``sendfile``.

    A superset of the stdlib's handler; every stdlib behaviour is kept and these are added:

    * ``ETag`` (strong, from modification time and size) and ``Accept-Ranges: bytes`` on
      file responses;
    * ``If-None-Match`` answers 304 and, as RFC 9110 section 13.2.2 requires, takes
      precedence over ``If-Modified-Since``; ``If-Match`` and ``If-Unmodified-Since``
      answer 412 when they fail;
    * ``Range: bytes=a-b``, ``a-`` and ``-suffix`` answer 206 with ``Content-Range``; a
      range that misses the file answers 416 with ``Content-Range: bytes */size``;
      several ranges are coalesced where they overlap or nearly touch and then sent as
      ``multipart/byteranges``; more than ``max_ranges`` of them, a malformed ``Range``,
      or an empty file get the whole file with 200;
    * ``If-Range`` (an entity tag or a date) makes the range conditional: if the file
      changed, the whole file is sent with 200;
    * a HEAD request with ``Range`` gets the head a GET would (206 or 416), since HEAD is
      GET without a body (RFC 9110 section 9.3.2); other methods ignore ``Range``;
    * file bodies go out through ``wfile.sendfile(file, offset, count)`` when the
      stream has one, else in pieces of ``copy_chunk_size`` bytes.
    """

    server_version = http.server.SimpleHTTPRequestHandler.server_version
    #: Files tried, in order, before a directory is listed (``index_pages`` of Python 3.12).
    index_pages: ClassVar[tuple[str, ...]] = ("index.html", "index.htm")
    #: More ranges than this in one request (after coalescing) get the whole file instead.
    max_ranges: ClassVar[int] = 16
    #: Size of each read when the body is copied rather than sent with ``sendfile``.
    copy_chunk_size: ClassVar[int] = 64 * 1024

    def send_head(self) -> Any:
        """Send the head for ``self.path``; return the body to copy, or ``None``.

        As in the stdlib, the caller copies the returned object to ``wfile`` (unless
        the request is HEAD) and must close it.  For a file it is a :class:`FileSlice`
        of exactly the announced bytes; for a directory listing, a ``BytesIO``.
        """
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            parts = urllib.parse.urlsplit(self.path)
            # An encoded slash ends the path in a slash too, once translate_path has
            # unquoted it: /dir%2f is served as /dir/, not redirected (as in Python 3.14).
            if not parts.path.endswith(("/", "%2f", "%2F")):
                # Relative links in the page would resolve against the parent otherwise.
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                new_url = urllib.parse.urlunsplit((parts[0], parts[1], parts[2] + "/", parts[3], parts[4]))
                self.send_header("Location", new_url)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            for index in self.index_pages:
                index_path = os.path.join(path, index)
                if os.path.isfile(index_path):
                    path = index_path
                    break
            else:
                return self.list_directory(path)
        ctype = self.guess_type(path)
        # "name/" must not find the file "name" (CPython issue 17324), though some
        # systems would open it.
        if path.endswith("/"):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            # Unbuffered: every read is positional and sized by us.
            file = open(path, "rb", buffering=0)  # noqa: SIM115 -- our caller closes it
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            return self._send_file_head(file, ctype)
        except BaseException:
            file.close()
            raise

    def make_etag(self, fs: os.stat_result) -> str:
        """The entity tag of a file with status ``fs``: override to change the validator.

        Strong, so that ``If-Range`` can use it; nanosecond modification time and size
        change on any ordinary rewrite.  Return a ``W/"..."`` tag to make it weak.
        """
        return f'"{fs.st_mtime_ns:x}-{fs.st_size:x}"'

    # -- internals ---------------------------------------------------------------------

    def _send_file_head(self, file: IO[bytes], ctype: str) -> FileSlice | _MultipartBody | None:
        fs = os.fstat(file.fileno())
        size = fs.st_size
        regular = stat.S_ISREG(fs.st_mode)
        etag = self.make_etag(fs)
        status = self._check_preconditions(etag, fs.st_mtime)
        if status is not None:
            file.close()
            if status == HTTPStatus.NOT_MODIFIED:
                self.send_response(HTTPStatus.NOT_MODIFIED)
                # A 304 carries the validator, so caches can refresh what they hold
                # (RFC 9110 section 15.4.5).
                self.send_header("ETag", etag)
                self.end_headers()
            else:
                self.send_error(status)
            return None

        ranges = self._requested_ranges(size, etag, fs.st_mtime)
        if ranges is not None and not ranges:
            file.close()
            self._send_unsatisfiable(size)
            return None
        if ranges is None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-type", ctype)
            self.send_header("Content-Length", str(size))
            self._send_validators(fs, etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return FileSlice(file, 0, size, regular=regular)

        if len(ranges) == 1:
            start, stop = ranges[0]
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-type", ctype)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
            self.send_header("Content-Length", str(stop - start))
            self._send_validators(fs, etag)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return FileSlice(file, start, stop, regular=regular)

        boundary = secrets.token_hex(16)
        pieces: list[bytes | FileSlice] = []
        for start, stop in ranges:
            part_head = (
                ("\r\n" if pieces else "")  # the CRLF before a delimiter belongs to it
                + f"--{boundary}\r\n"
                f"Content-Type: {ctype}\r\n"
                f"Content-Range: bytes {start}-{stop - 1}/{size}\r\n\r\n"
            )
            pieces.append(part_head.encode("latin-1", "replace"))
            pieces.append(FileSlice(file, start, stop, regular=regular, close_file=False))
        pieces.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
        body = _MultipartBody(file, pieces)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-type", f"multipart/byteranges; boundary={boundary}")
        self.send_header("Content-Length", str(body.length))
        self._send_validators(fs, etag)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return body

    def _send_validators(self, fs: os.stat_result, etag: str) -> None:
        self.send_header("Last-Modified", self.date_time_string(fs.st_mtime))
        self.send_header("ETag", etag)

    def _check_preconditions(self, etag: str, mtime: float) -> HTTPStatus | None:
        """304 or 412 if a conditional header says so, else ``None`` (RFC 9110 section 13.2.2)."""
        headers = self.headers
        if_match = headers.get("If-Match")
        if if_match is not None:
            if not _tag_list_matches(if_match, etag, weak=False):
                return HTTPStatus.PRECONDITION_FAILED
        else:
            value = headers.get("If-Unmodified-Since")
            since = _parse_http_date(value) if value is not None else None
            if since is not None and _whole_seconds(mtime) > since:
                return HTTPStatus.PRECONDITION_FAILED
        if_none_match = headers.get("If-None-Match")
        if if_none_match is not None:
            # When present it decides alone: If-Modified-Since is not even looked at.
            if _tag_list_matches(if_none_match, etag, weak=True):
                if self.command in ("GET", "HEAD"):
                    return HTTPStatus.NOT_MODIFIED
                return HTTPStatus.PRECONDITION_FAILED
            return None
        value = headers.get("If-Modified-Since")
        if value is not None:
            # The stdlib's rule, kept as it is: any method, and only dates in UTC/GMT.
            since = _parse_http_date(value)
            if since is not None and since.tzinfo is datetime.timezone.utc and _whole_seconds(mtime) <= since:
                return HTTPStatus.NOT_MODIFIED
        return None

    def _requested_ranges(self, size: int, etag: str, mtime: float) -> list[tuple[int, int]] | None:
        """The ranges to send: ``None`` for the whole file, ``[]`` for 416."""
        value = self.headers.get("Range")
        if value is None or self.command not in ("GET", "HEAD") or size == 0:
            # An empty file has no byte to point at; every server answers it whole.
            return None
        if_range = self.headers.get("If-Range")
        if if_range is not None and not self._if_range_matches(if_range.strip(), etag, mtime):
            return None
        ranges = parse_byte_ranges(value, size)
        if ranges is None or len(ranges) <= 1:
            return ranges
        ranges = _coalesce(ranges)
        return ranges if len(ranges) <= self.max_ranges else None

    @staticmethod
    def _if_range_matches(value: str, etag: str, mtime: float) -> bool:
        """Whether ``If-Range`` names the current file (RFC 9110 section 13.1.5).

        Only a strong comparison counts: a weak tag never matches, and a date must
        equal ``Last-Modified`` exactly.
        """
        if value.startswith(('"', "W/")):
            # Equal and strong: a weak tag on either side never matches.
            return value == etag and not etag.startswith("W/")
        when = _parse_http_date(value)
        return when is not None and when == _whole_seconds(mtime)

    def _send_unsatisfiable(self, size: int) -> None:
        """416 with the stdlib's error page and the ``Content-Range`` it must carry."""
        code = HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE
        self.log_error("code %d, message %s", code, code.phrase)
        body = (
            self.error_message_format
            % {"code": code.value, "message": code.phrase, "explain": code.description}
        ).encode("utf-8", "replace")
        self.send_response(code)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Type", self.error_content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def copyfile(self, source: Any, outputfile: Any) -> None:
        """Copy the body ``source`` to ``outputfile`` in bounded pieces, or with ``sendfile``."""
        if isinstance(source, FileSlice):
            self._copy_slice(source, outputfile)
        elif isinstance(source, _MultipartBody):
            for piece in source.pieces:
                if isinstance(piece, bytes):
                    outputfile.write(piece)
                else:
                    self._copy_slice(piece, outputfile)
        else:
            # A listing's BytesIO, or whatever an overridden send_head returned.
            for chunk in _chunks(source, self.copy_chunk_size):
                outputfile.write(chunk)

    def _copy_slice(self, part: FileSlice, outputfile: Any) -> None:
        if not part.remaining:
            return
        sendfile = getattr(outputfile, "sendfile", None)
        if sendfile is not None and part.regular:
            # Contract: sendfile(file, offset, count) sends up to ``count`` bytes of the
            # file from ``offset`` and returns how many (None meaning all), or raises
            # NotImplementedError/UnsupportedOperation having sent nothing -- for
            # example on TLS, or when the transport cannot hand over its socket.
            try:
                sent = sendfile(part.file, part.position, part.remaining)
            except (NotImplementedError, io.UnsupportedOperation):
                pass
            else:
                part.advance(part.remaining if sent is None else int(sent))
        # Whatever sendfile left (all of it, without one): fresh ``bytes`` per piece, so
        # wfile.write takes them without copying and memory stays at one piece.
        for chunk in _chunks(part, self.copy_chunk_size):
            outputfile.write(chunk)


def _chunks(source: Any, size: int) -> Iterator[bytes]:
    read = source.read
    while chunk := read(size):
        yield chunk
